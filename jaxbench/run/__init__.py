"""The run layer: RunSpecs in, DeepOBS records out (batching, records, checkpoints).

Data flows config -> RunSpec -> (protocol driver) -> run layer -> records; this package builds
on `jaxbench.train` (the compiled engine) and never imports `jaxbench.config`.

  from jaxbench import run
  results = run.execute(specs, config=None, progress=None, max_runs_per_batch=None)
  run.pending_seeds(spec), run.group_dir(spec), run.read_group(spec)

See `jaxbench.run.loop` for what `execute` does and `jaxbench.run.identity` for what makes a
record this run's.
"""
from jaxbench.run.identity import batch_key, run_identity, setting_of
from jaxbench.run.loop import (GroupResult, Interrupted, execute, group_dir, pending_seeds,
                               read_group, run_specs)
from jaxbench.run.spec import RunSpec

__all__ = ["GroupResult", "Interrupted", "RunSpec", "batch_key", "execute", "group_dir",
           "pending_seeds", "read_group", "run_identity", "run_specs", "setting_of"]
