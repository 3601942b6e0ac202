#!/usr/bin/env bash
# The accelerator table of issue 12: the eight paper problems at 1, 10 and 100 vmapped runs,
# per-run memory (for the sweep's chunk sizes) and the whole study's device-hours.
#
#   bash benchmarks/gpu_table.sh                 # on one GPU: ~6-7 minutes (budget: 8)
#   OUT=/tmp/t PROBLEMS=quadratic_deep NUM_SEEDS=1,2 ROW_SECONDS=0.2 bash benchmarks/gpu_table.sh
#
# Each problem runs in its own process, so its peak device memory (and hence the per-run memory:
# the growth of the peak from 10 to 100 runs over the 90 runs added) is its own, not a
# leftover of a bigger problem measured earlier. A problem that fails (e.g. out of memory at
# 100 runs) keeps the rows it finished; the report covers every row written.
set -u
OUT=${OUT:-gpu_table}
PROBLEMS=${PROBLEMS:-quadratic_deep,mnist_vae,fmnist_2c2d,cifar10_3c3d,fmnist_vae,cifar100_allcnnc,svhn_wrn164,tolstoi_char_rnn}
NUM_SEEDS=${NUM_SEEDS:-1,10,100}
ROW_SECONDS=${ROW_SECONDS:-3}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"
rm -f "$OUT"/*.json
for problem in ${PROBLEMS//,/ }; do
  "$PYTHON" -m jaxbench.bench --problems="$problem" --num_seeds="$NUM_SEEDS" \
      --seconds="$ROW_SECONDS" --json="$OUT/$problem.json" "$@" \
    || echo "gpu_table: $problem stopped early (exit $?); its finished rows are in $OUT/$problem.json"
done
"$PYTHON" -m jaxbench.bench --report="$OUT" --study_cost | tee "$OUT/table.txt"
