"""Beyond one machine: the study on a Ray cluster, and one batch of runs across several hosts.

  ray_sweep.py  `jaxbench sweep --engine=ray`: each work-unit stage (a chunk of a unit's pending
                RunSpecs) is a Ray task with the resources it needs; record-driven resume, task
                retries, progress with per-node utilisation
  multihost.py  `jax.distributed` initialisation, a global run mesh over every process's devices,
                and the rule "only process 0 writes records and checkpoints"

Ray is optional (`pip install 'jaxbench[ray]'`): importing jaxbench or this package never
imports Ray; only `jaxbench.cluster.ray_sweep` does, and the sweep command loads it by name only
for `--engine=ray`.

Layering: above jaxbench.sweep (it drives the sweep's protocol on a cluster) and jaxbench.run.
"""
