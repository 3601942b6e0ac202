"""The benchmark command (jaxbench.bench) and the strategy policy (strategy.choose).

No speed assertions: speed claims come from the benchmark runs in BUILD_NOTES.md.
"""
import json
import os
import subprocess
import sys

import pytest

from jaxbench import bench, problems
from jaxbench.errors import ConfigError
from jaxbench.train import strategy as strategy_lib
from jaxbench.train import xla_flags

# The documented row keys (issue 5), written out here independently of bench.ROW_KEYS.
DOCUMENTED_KEYS = {
  "problem", "num_seeds", "device", "strategy", "steps_per_sec", "seed_steps_per_sec",
  "examples_per_sec", "compile_seconds", "eval_seconds_per_epoch", "peak_memory",
  "model_flops_per_step", "flops_fraction_of_peak", "model_bytes_per_step",
  "bytes_fraction_of_bandwidth", "allocator"}


@pytest.fixture(scope="module")
def quadratic_rows(tmp_path_factory):
  path = os.path.join(tmp_path_factory.mktemp("bench"), "rows.json")
  bench.main(["--problems=quadratic_deep", "--num_seeds=1,2", "--seconds=0.2", "--optimizer=sgd",
              "--runs=vmap", "--steps_per_dispatch=2", "--unroll=2", f"--json={path}"])
  with open(path) as f:
    return json.load(f)


def test_json_rows_have_exactly_the_documented_keys(quadratic_rows):
  assert [(r["problem"], r["num_seeds"]) for r in quadratic_rows] == [
      ("quadratic_deep", 1), ("quadratic_deep", 2)]
  for row in quadratic_rows:
    assert set(row) == DOCUMENTED_KEYS


def test_rows_have_sane_values(quadratic_rows):
  for row in quadratic_rows:
    n = row["num_seeds"]
    assert row["steps_per_sec"] > 0
    assert row["seed_steps_per_sec"] == pytest.approx(row["steps_per_sec"] * n)
    # quadratic_deep's batch size is 128 (SPEC section 1).
    assert row["examples_per_sec"] == pytest.approx(row["seed_steps_per_sec"] * 128)
    assert row["compile_seconds"] > 0
    assert row["eval_seconds_per_epoch"] > 0
    assert row["peak_memory"] > 2**20
    assert row["device"].startswith("cpu")
    assert row["strategy"]["runs"] == "vmap"
    assert row["strategy"]["steps_per_dispatch"] == 2 and row["strategy"]["unroll"] == 2
    # The loss 0.5 (theta - x)^T Q (theta - x) on a 128 x 100 batch needs the product of the
    # [128, 100] differences with the 100 x 100 Hessian: 2 * 128 * 100 * 100 FLOPs per run
    # forward; the backward pass needs another product of the same size.
    per_run = 2 * 128 * 100 * 100
    assert 2 * per_run * n <= row["model_flops_per_step"] <= 20 * per_run * n
    assert 0 < row["flops_fraction_of_peak"] < 10
    # At least the per-run Hessian (100 x 100 float32) and the batch (128 x 100) are read.
    assert row["model_bytes_per_step"] >= 4 * (100 * 100 + 128 * 100) * n
    assert 0 < row["bytes_fraction_of_bandwidth"] < 10


def test_bad_problem_name_names_the_valid_choices():
  with pytest.raises(SystemExit, match="fmnist_2c2d"):
    bench.main(["--problems=not_a_problem", "--seconds=0.1"])


def test_bad_num_seeds():
  with pytest.raises(SystemExit, match="num_seeds"):
    bench.main(["--problems=quadratic_deep", "--num_seeds=0", "--seconds=0.1"])


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu"])
@pytest.mark.parametrize("num_runs", [1, 4, 10, 100])
def test_choose_returns_valid_strategies_for_every_problem(backend, num_runs):
  for name in problems.names():
    s = strategy_lib.choose(name, backend, num_runs)
    assert isinstance(s, strategy_lib.Strategy)
    assert s.runs in ("vmap", "loop")
    assert s.steps_per_dispatch >= 1 and 1 <= s.unroll <= s.steps_per_dispatch


def test_choose_handles_names_outside_the_registry():
  # With one run both mechanisms execute the same single-run step; the policy picks one, and
  # the result must still be a valid strategy for names outside the registry (tests' toys).
  s = strategy_lib.choose("some_custom_problem", "cpu", 1)
  assert isinstance(s, strategy_lib.Strategy)


def test_choose_rejects_bad_input():
  with pytest.raises(ValueError, match="backend"):
    strategy_lib.choose("quadratic_deep", "abacus", 1)
  with pytest.raises(ValueError, match="num_runs"):
    strategy_lib.choose("quadratic_deep", "cpu", 0)


def test_xla_flags_user_settings_win():
  merged = xla_flags.merged("--xla_cpu_enable_fast_math=true",
                            {"xla_cpu_enable_fast_math": "false", "xla_foo": "1"})
  assert merged == "--xla_cpu_enable_fast_math=true --xla_foo=1"
  assert xla_flags.merged("", {}) == ""


def test_importing_bench_sets_no_xla_flags_and_loads_nothing_outside_the_package():
  # Issue 8: XLA_FLAGS belong to main() (before the backend starts), not to the import, and the
  # bench must work from an installed package (no benchmarks/ folder on the path).
  code = ("import os, sys, jaxbench.bench; from jax._src import xla_bridge; "
          "print(repr(os.environ.get('XLA_FLAGS')), bool(xla_bridge._backends), "
          "sorted(m for m in sys.modules if m.split('.')[0] in ('torch_loop', 'torch_models', "
          "'benchmarks', 'torch')))")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=True).stdout.split()
  assert out == ["None", "False", "[]"]


def test_study_steps_per_epoch_follow_the_spec_splits():
  # Training examples = official training split - validation (SPEC 1), remainder dropped:
  # (60,000 - 10,000) // 128, // 64; (50,000 - 10,000) // 128, // 256; (73,257 - 26,032) // 128;
  # quadratic_deep 1,000 // 128; tolstoi: DeepOBS's 3,266,185 characters, train = ceil(0.8 N)
  # = 2,612,948 less ceil(0.1 of it) = 261,295 validation = 2,351,653, // (50 x 50) batches.
  expected = {"fmnist_2c2d": 390, "mnist_vae": 781, "cifar10_3c3d": 312,
              "cifar100_allcnnc": 156, "svhn_wrn164": 368, "quadratic_deep": 7,
              "tolstoi_char_rnn": 940}
  assert {n: bench.study_steps_per_epoch(n) for n in expected} == expected


def test_gpu_table_script_runs_at_tiny_sizes_and_extrapolates_the_study(tmp_path):
  # The accelerator script must work the first time on a GPU: run it here on CPU, tiny.
  script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "gpu_table.sh")
  env = dict(os.environ, OUT=str(tmp_path), PROBLEMS="quadratic_deep", NUM_SEEDS="1,2",
             ROW_SECONDS="0.1", PYTHON=sys.executable)
  proc = subprocess.run(["bash", script, "--optimizer=sgd"], env=env, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / "quadratic_deep.json") as f:
    rows = json.load(f)
  assert [r["num_seeds"] for r in rows] == [1, 2]
  top = rows[-1]
  # 15 optimizers x 4 schedules x 112 runs (SPEC 5) in batches of 2 runs; each batch trains
  # 100 epochs x 7 steps and evaluates 101 times.
  seconds = 100 * 7 / top["steps_per_sec"] + 101 * top["eval_seconds_per_epoch"]
  hours = 15 * 4 * 112 / 2 * seconds / 3600
  total = [line for line in proc.stdout.splitlines() if line.startswith("total")]
  assert len(total) == 1
  assert float(total[0].split()[-1]) == pytest.approx(hours, rel=0.01, abs=0.01)
  per_run_mib = (rows[1]["peak_memory"] - rows[0]["peak_memory"]) / 2**20
  (line,) = [l for l in proc.stdout.splitlines() if l.startswith("quadratic_deep") and
             len(l.split()) == 7]
  assert float(line.split()[5]) == pytest.approx(max(per_run_mib, 0.0), abs=0.06)
  assert (tmp_path / "table.txt").read_text().strip().endswith(total[0].strip())


def test_char_rnn_step_cost_counts_every_time_step():
  """XLA counts a rolled scan's body once; `step_cost` must count all 50 time steps. Against the
  matmul FLOPs by hand (batch 50, 50 steps, 2 layers of [B, 128 + 128] x [256, 512] per step
  forward and two such products backward; the softmax layer [2500, 128] x [128, 83] forward and
  two backward), which are most, not all, of XLA's count (the gates' elementwise work adds)."""
  from jaxbench import data  # pylint: disable=import-outside-toplevel
  from jaxbench.train import engine  # pylint: disable=import-outside-toplevel
  problem = problems.get("tolstoi_char_rnn")
  dataset = data.load(problem.dataset, batch_size=problem.batch_size, source="synthetic")
  batch = engine.RunBatch(problem="tolstoi_char_rnn", optimizer="sgd", seeds=[42])
  trainer = engine.Trainer(batch, dataset)
  state = trainer.init()
  lstm = 2 * 50 * 3 * (2 * 50 * 256 * 512)
  softmax = 3 * (2 * 2500 * 128 * dataset.num_classes)
  rolled = trainer.step_cost(state)["flops"]
  counted = bench.step_cost(trainer, state, batch, dataset)["flops"]
  assert rolled < 0.3 * (lstm + softmax)
  assert lstm + softmax <= counted <= 1.3 * (lstm + softmax)


def test_rnn_unroll_is_for_recurrent_problems_only():
  with pytest.raises(ConfigError, match="rnn_unroll=2: problem 'fmnist_mlp' has no "
                     "recurrent layers; valid choices for it: 1"):
    problems.get("fmnist_mlp", rnn_unroll=2)
  with pytest.raises(ConfigError, match="rnn_unroll=0 must be a positive int"):
    problems.get("tolstoi_char_rnn", rnn_unroll=0)
