"""The run axis sharded over 4 fake CPU devices gives the unsharded results (subprocess)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np

_SCRIPT = textwrap.dedent('''
  import json, sys
  import jax, numpy as np
  from jax.sharding import Mesh
  sys.path.insert(0, sys.argv[1])
  from test_engine_toys import mlp_problem, sgd, toy_dataset
  from jaxbench.train.engine import RunBatch, Trainer
  from jaxbench.train.strategy import Strategy
  from jaxbench.train import sharding

  assert jax.device_count() == 4, jax.devices()
  problem, dataset = mlp_problem(dropout=0.25), toy_dataset()
  def batch(seeds):
    return RunBatch(problem=problem, optimizer=sgd, schedule=None, seeds=np.array(seeds),
                    hyperparams={'learning_rate': np.linspace(0.01, 0.05, len(seeds)),
                                 'momentum': np.linspace(0.0, 0.9, len(seeds))},
                    num_epochs=1, train_log_interval=2)
  out = {}
  def train(name, strategy, mesh):
    trainer = Trainer(batch([1, 2, 3, 4]), dataset, strategy, mesh=mesh)
    state = trainer.init()
    state, losses = trainer.run_epoch(state, 0)
    out[name] = dict({k: v.tolist() for k, v in trainer.evaluate(state).items()},
                     losses=losses.tolist(), devices=trainer.strategy['num_devices'],
                     shards=len(state.step.sharding.device_set))
  single = Mesh(np.asarray(jax.devices()[:1]), ('runs',))
  train('unsharded', Strategy('vmap', 1, 1), single)
  train('vmap', Strategy('vmap', 2, 1), None)
  train('loop', Strategy('loop', 1, 1), None)
  out['auto_devices_for_6_runs'] = Trainer(batch(range(6)), dataset, Strategy('vmap', 1, 1)
                                           ).strategy['num_devices']
  try:
    Trainer(batch(range(6)), dataset, Strategy('vmap', 1, 1),
            mesh=Mesh(np.asarray(jax.devices()), ('runs',)))
    out['error'] = None
  except ValueError as error:
    out['error'] = str(error)
  print('RESULT' + json.dumps(out))
''')


def test_sharded_run_axis_equals_unsharded():
  tests = pathlib.Path(__file__).parent
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4',
             JAX_PLATFORMS='cpu')
  done = subprocess.run([sys.executable, '-c', _SCRIPT, str(tests)], env=env, check=False,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  line = [l for l in done.stdout.splitlines() if l.startswith('RESULT')][0]
  out = json.loads(line[len('RESULT'):])
  unsharded = out['unsharded']
  assert unsharded['devices'] == 1 and unsharded['shards'] == 1
  for name in ('vmap', 'loop'):
    assert out[name]['devices'] == 4 and out[name]['shards'] == 4, name
    for key, values in unsharded.items():
      if key not in ('devices', 'shards'):
        np.testing.assert_allclose(out[name][key], values, rtol=1e-5, atol=1e-6,
                                   err_msg=f'{name} {key}')
  assert out['auto_devices_for_6_runs'] == 3   # the largest device count dividing 6 runs
  assert '6 runs cannot be split evenly over the mesh of 4 devices' in out['error']
