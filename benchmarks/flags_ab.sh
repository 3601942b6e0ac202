#!/usr/bin/env bash
# XLA:CPU flags on the 2c2d and VAE training steps (benchmarks/conv_impl_ab.py, one run), each flag
# in its own process (XLA reads XLA_FLAGS once), the flag settings alternated ROUNDS times so
# that every setting sees the same machine load. Base flags = jaxbench's (xla_flags.CPU_FLAGS).
#   ROUNDS=2 bash benchmarks/flags_ab.sh
set -u
ROUNDS=${ROUNDS:-2}
MODELS=${MODELS:-2c2d,vae}
BASE=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution
for round in $(seq "$ROUNDS"); do
  for extra in "" --xla_cpu_use_onednn=true --xla_cpu_enable_fast_math=true \
               --xla_cpu_multi_thread_eigen=false; do
    XLA_FLAGS="$BASE $extra" python benchmarks/conv_impl_ab.py --models="$MODELS" --runs=1 \
        --impls=xla --window=1.5 --rounds=2 | sed "s|^|round $round ${extra:-(base)}: |"
  done
done
