"""`jaxbench.bench` with the performance proposals for other owners' files patched in.

Why: it measured what the proposals in BUILD_NOTES.md ("Performance") would give through the
real engine before they were applied. The max-pool one now is nets._max_pool, so --pool is kept
only to reproduce the numbers; --rnn_unroll remains an open experiment. Proposals (each switchable):
  --pool: nets._max_pool = benchmarks/max_pool_ab.strided_max_pool (same values and gradients).
  --rnn_unroll=U: the char-RNN's LSTM time scan unrolled U steps (nets.CharRNN(unroll=U)).
  --conv_impl=I: every model with a `conv_impl` field built with conv_impl=I ('xla', 'matmul';
    the switch the strategy policy would set, session 3).

  python benchmarks/bench_with_proposals.py --pool -- --problems=fmnist_2c2d --num_seeds=1 --torch
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
  argv = sys.argv[1:]
  split = argv.index("--") if "--" in argv else len(argv)
  own, rest = argv[:split], argv[split + 1:]
  from jaxbench import bench  # bench.main applies the XLA flags before jax starts
  if "--pool" in own:
    import max_pool_ab
    from jaxbench.problems import nets
    nets._max_pool = max_pool_ab.strided_max_pool  # pylint: disable=protected-access
    print("patched: jaxbench.problems.nets._max_pool = strided_max_pool")
  unroll = [a for a in own if a.startswith("--rnn_unroll=")]
  if unroll:
    import dataclasses
    import functools
    from jaxbench.problems import nets, registry
    u = int(unroll[0].split("=", 1)[1])
    entry = registry._TABLE["tolstoi_char_rnn"]  # pylint: disable=protected-access
    registry._TABLE["tolstoi_char_rnn"] = dataclasses.replace(  # pylint: disable=protected-access
        entry, **{dataclasses.fields(entry)[1].name: functools.partial(
            nets.CharRNN, registry.TOLSTOI_VOCAB_SIZE, unroll=u)})
    print(f"patched: tolstoi_char_rnn LSTM scan unroll={u}")
  impl = [a for a in own if a.startswith("--conv_impl=")]
  if impl:
    import dataclasses
    import functools
    from jaxbench.problems import registry
    value = impl[0].split("=", 1)[1]
    for name, entry in list(registry._TABLE.items()):  # pylint: disable=protected-access
      field = dataclasses.fields(entry)[1].name
      model = getattr(entry, field)
      cls = getattr(model, "func", model)
      if "conv_impl" in getattr(cls, "__dataclass_fields__", {}):
        registry._TABLE[name] = dataclasses.replace(  # pylint: disable=protected-access
            entry, **{field: functools.partial(model, conv_impl=value)})
    print(f"patched: conv_impl={value} on every conv model")
  bench.main(rest)


if __name__ == "__main__":
  main()
