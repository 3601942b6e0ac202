"""Profile the engine's training step with jax.profiler and print the largest XLA events.

Why: finds what dominates a step (it found the YNNPACK conv weight gradient and the max-pool
gradient's index arrays in fmnist_2c2d). Usage: python benchmarks/profile_step.py PROBLEM
[NUM_RUNS vmap|loop NUM_STEPS STEPS_PER_DISPATCH]; the trace lands in /tmp/perf/trace_PROBLEM.
"""
import sys, glob, collections, time
import jax, numpy as np
from jaxbench import data, problems
from jaxbench.train import engine
from jaxbench.train.strategy import Strategy
name = sys.argv[1] if len(sys.argv) > 1 else 'fmnist_2c2d'
R = int(sys.argv[2]) if len(sys.argv) > 2 else 1
RUNS = sys.argv[3] if len(sys.argv) > 3 else 'loop'
N = int(sys.argv[4]) if len(sys.argv) > 4 else 5
K = int(sys.argv[5]) if len(sys.argv) > 5 else 1
p = problems.get(name)
ds = data.load(p.dataset, batch_size=p.batch_size, source='synthetic')
tr = engine.Trainer(engine.RunBatch(problem=name, optimizer='adam', seeds=np.arange(42, 42 + R)), ds, strategy=Strategy(RUNS,K,1))
st = tr.init(); st, b = tr.train_steps(st, 0, 2 * K); jax.block_until_ready(st)
d = '/tmp/perf/trace_' + name
jax.profiler.start_trace(d)
t = time.perf_counter()
st, b = tr.train_steps(st, 0, N); jax.block_until_ready(st)
wall = time.perf_counter() - t
print(N, 'steps', wall)
jax.profiler.stop_trace()
from jax._src.lib import _profile_data
f = sorted(glob.glob(d + '/**/*.xplane.pb', recursive=True))[-1]
pd = _profile_data.ProfileData.from_file(f)
tot = collections.Counter(); cnt = collections.Counter()
for plane in pd.planes:
  for line in plane.lines:
    for ev in line.events:
      tot[(plane.name[:20], line.name[:25], ev.name[:60])] += ev.duration_ns; cnt[(plane.name[:20], line.name[:25], ev.name[:60])] += 1
for k, v in tot.most_common(45):
  print(f"{v/1e6/N:9.2f} ms/step  n={cnt[k]:4d}  {k}")
ops = sum(v for (plane, line, name), v in tot.items()
          if ('Eigen' in line or 'XLA' in line) and not name.startswith('ThunkExecutor'))
print(f"ops' own time {ops / 1e6 / N:.2f} ms/step (summed over threads) of "
      f"{wall * 1e3 / N:.2f} ms/step wall (traced)")
