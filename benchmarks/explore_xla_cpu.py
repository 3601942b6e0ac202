"""Measure XLA:CPU execution options for small training steps (standalone, no jaxbench imports).

Why: the engine's strategy (vmap vs loop, steps fused per dispatch, unroll) and the XLA flags
must come from measurements on this CPU, not folklore. Each option runs in a fresh child process
(XLA flags are read once at backend start), options are interleaved and repeated, and the
parent reports medians, so a noisy shared machine hurts all options alike.

  python benchmarks/explore_xla_cpu.py --models=2c2d,mlp,quadratic --repeats=3 --seconds=2
  python benchmarks/explore_xla_cpu.py --child '{"model": "2c2d", "variant": "dispatch"}'
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# name -> (variant, extra XLA flags, env)
VARIANTS: dict[str, tuple[str, str, dict]] = {
  "dispatch": ("dispatch", "", {}),
  "dispatch_sync": ("dispatch_sync", "", {}),
  "nodonate": ("nodonate", "", {}),
  "scan10_u1": ("scan10_u1", "", {}),
  "scan10_full": ("scan10_full", "", {}),
  "nchw": ("nchw", "", {}),
  "bf16": ("bf16", "", {}),
  "loop4": ("loop4", "", {}),
  "vmap4": ("vmap4", "", {}),
  "loop10": ("loop10", "", {}),
  "vmap10": ("vmap10", "", {}),
  "vmap10_scan10_full": ("vmap10_scan10_full", "", {}),
  "f_no_eigen_mt": ("dispatch", "--xla_cpu_multi_thread_eigen=false", {}),
  "f_fast_math": ("dispatch", "--xla_cpu_enable_fast_math=true", {}),
  "f_no_xnnpack": ("dispatch", "--xla_cpu_use_xnnpack=false", {}),
  "f_xnnpack": ("dispatch", "--xla_cpu_use_xnnpack=true", {}),
  "f_onednn": ("dispatch", "--xla_cpu_use_onednn=true", {}),
  "f_no_thunk": ("dispatch", "--xla_cpu_use_thunk_runtime=false", {}),
  "f_no_fusion_emitters": ("dispatch", "--xla_cpu_use_fusion_emitters=false", {}),
  "f_small_while_0": ("scan10_u1", "--xla_cpu_small_while_loop_byte_threshold=0", {}),
  "f_ynn_off": ("dispatch", "--xla_cpu_experimental_ynn_fusion_type=", {}),
  "f_ynn_no_conv": ("dispatch", "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution", {}),
  "f_ynn_no_dot": ("dispatch", "--xla_cpu_experimental_ynn_fusion_type=-individual_dot", {}),
  "scan10_u1_ynn_off": ("scan10_u1", "--xla_cpu_experimental_ynn_fusion_type=", {}),
  "scan10_full_ynn_off": ("scan10_full", "--xla_cpu_experimental_ynn_fusion_type=", {}),
  "vmap4_ynn_off": ("vmap4", "--xla_cpu_experimental_ynn_fusion_type=", {}),
  "loop4_ynn_off": ("loop4", "--xla_cpu_experimental_ynn_fusion_type=", {}),
  "f_1thread": ("dispatch", "--xla_cpu_multi_thread_eigen=false",
                {"OMP_NUM_THREADS": "1"}),
}


def _child(cfg: dict) -> dict:
  """Runs one option in this process and returns steps/sec (per run)."""
  import numpy as np
  import jax
  import jax.numpy as jnp
  import optax
  from flax import linen as nn

  model_name, variant = cfg["model"], cfg["variant"]
  seconds = cfg.get("seconds", 2.0)
  dtype = jnp.bfloat16 if variant == "bf16" else jnp.float32
  nchw = variant == "nchw"
  batch = 128

  class TwoC2D(nn.Module):
    @nn.compact
    def __call__(self, x):
      if nchw:
        x = jnp.transpose(x, (0, 3, 1, 2))  # NCHW throughout the conv part
        for feat, cin in ((32, 1), (64, 32)):
          w = self.param(f"w{feat}", nn.initializers.normal(0.05), (feat, cin, 5, 5))
          b = self.param(f"b{feat}", nn.initializers.constant(0.05), (feat,))
          x = jax.lax.conv_general_dilated(x, w.astype(x.dtype), (1, 1), "SAME",
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
          x = nn.relu(x + b.astype(x.dtype)[None, :, None, None])
          x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        x = jnp.transpose(x, (0, 2, 3, 1))
      else:
        x = nn.relu(nn.Conv(32, (5, 5), padding="SAME", dtype=dtype)(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Conv(64, (5, 5), padding="SAME", dtype=dtype)(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
      x = x.reshape(x.shape[0], -1)
      x = nn.relu(nn.Dense(1024, dtype=dtype)(x))
      return nn.Dense(10, dtype=dtype)(x)

  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = x.reshape(x.shape[0], -1)
      for f in (1000, 500, 100):
        x = nn.relu(nn.Dense(f, dtype=dtype)(x))
      return nn.Dense(10, dtype=dtype)(x)

  rng = np.random.RandomState(0)
  if model_name == "quadratic":
    a = rng.normal(size=(100, 100)).astype(np.float32)
    q = jnp.asarray(a @ a.T / 100)
    init = lambda key: {"theta": jnp.ones(100, jnp.float32)}
    def loss_fn(p, x, y):
      d = p["theta"][None] - x
      return jnp.mean(0.5 * jnp.einsum("bi,ij,bj->b", d, q, d))
    xs = jnp.asarray(rng.normal(0, 0.6, (8, batch, 100)).astype(np.float32))
    ys = jnp.zeros((8, batch), jnp.int32)
  else:
    net = TwoC2D() if model_name == "2c2d" else MLP()
    init = lambda key: net.init(key, jnp.zeros((1, 28, 28, 1), dtype))
    def loss_fn(p, x, y):
      logits = net.apply(p, x.astype(dtype)).astype(jnp.float32)
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    xs = jnp.asarray(rng.uniform(size=(8, batch, 28, 28, 1)).astype(np.float32))
    ys = jnp.asarray(rng.randint(0, 10, (8, batch)).astype(np.int32))

  opt = optax.adam(1e-3)

  def step(state, i):
    p, o = state
    x, y = xs[i % 8], ys[i % 8]
    loss, g = jax.value_and_grad(loss_fn)(p, x, y)
    u, o = opt.update(g, o, p)
    return (optax.apply_updates(p, u), o), loss

  def init_state(key):
    p = init(key)
    return (p, opt.init(p))

  num_runs = 1
  for r in (4, 10):
    if variant.startswith((f"loop{r}", f"vmap{r}")):
      num_runs = r
  fused = 10 if "scan10" in variant else 1
  unroll = fused if variant.endswith("full") else 1

  def multi(state, i0):
    def body(s, i):
      return step(s, i0 + i)
    return jax.lax.scan(body, state, jnp.arange(fused), unroll=unroll)

  one = multi if fused > 1 else step
  keys = jax.random.split(jax.random.PRNGKey(0), num_runs)
  donate = () if variant == "nodonate" else (0,)
  if variant.startswith("vmap"):
    fn = jax.jit(jax.vmap(one, in_axes=(0, None)), donate_argnums=donate)
    states = [jax.vmap(init_state)(keys)]
  else:
    fn = jax.jit(one, donate_argnums=donate)
    states = [init_state(k) for k in keys]

  t0 = time.perf_counter()
  for j in range(len(states)):
    states[j], _ = fn(states[j], jnp.int32(0))
  jax.block_until_ready(states)
  compile_s = time.perf_counter() - t0
  # warm-up a few calls, then time for `seconds`
  for it in range(1):
    for j in range(len(states)):
      states[j], _ = fn(states[j], jnp.int32(it))
  jax.block_until_ready(states)
  calls, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    for j in range(len(states)):
      states[j], loss = fn(states[j], jnp.int32(calls))
      if variant == "dispatch_sync":
        float(loss)  # a host sync every step, as a loop that logs every loss would
    calls += 1
  jax.block_until_ready(states)
  dt = time.perf_counter() - t0
  batched_steps_per_sec = calls * fused / dt
  seed_steps_per_sec = batched_steps_per_sec * num_runs
  cpu = time.process_time()
  return {"seed_steps_per_sec": seed_steps_per_sec, "compile_s": compile_s,
          "num_runs": num_runs, "process_cpu_s": cpu}


def _torch_ref(model: str, seconds: float) -> dict:
  """Plain PyTorch loop on the same model (the issue's baseline), in a child process."""
  from jaxbench.benchmarking import torch_loop  # optional: needs PyTorch
  name = {"2c2d": "fmnist_2c2d", "mlp": "fmnist_mlp", "quadratic": "quadratic_deep"}[model]
  return torch_loop.measure(name, seconds=seconds, num_runs=1)


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--child", default=None)
  ap.add_argument("--models", default="2c2d")
  ap.add_argument("--variants", default=",".join(VARIANTS))
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--seconds", type=float, default=2.0)
  ap.add_argument("--torch", action="store_true", help="also measure the PyTorch loop")
  ap.add_argument("--json", default=None)
  args = ap.parse_args()
  if args.child:
    cfg = json.loads(args.child)
    out = _torch_ref(cfg["model"], cfg["seconds"]) if cfg["variant"] == "torch" else _child(cfg)
    print("RESULT " + json.dumps(out))
    return

  variants = args.variants.split(",")
  if args.torch:
    variants.append("torch")
  results: dict = {}
  for rep in range(args.repeats):
    for model in args.models.split(","):
      for v in variants:
        variant, flags, env_extra = VARIANTS.get(v, (v, "", {}))
        if model == "quadratic" and variant in ("nchw",):
          continue
        env = dict(os.environ, **env_extra)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
        cfg = {"model": model, "variant": variant, "seconds": args.seconds}
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], env=env,
                              capture_output=True, text=True)
        line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if not line:
          err = proc.stderr.strip().splitlines()[-1:] if proc.stderr else ["?"]
          print(f"{model:10s} {v:22s} FAILED: {err}", flush=True)
          results.setdefault((model, v), []).append(None)
          continue
        r = json.loads(line[0][7:])
        results.setdefault((model, v), []).append(r)
        print(f"rep{rep} {model:10s} {v:22s} seed_steps/s={r['seed_steps_per_sec']:9.1f} "
              f"compile={r.get('compile_s', 0):.2f}s", flush=True)

  print("\nMEDIANS (seed-steps/sec; ratio to 'dispatch' of the same model)")
  rows = []
  for (model, v), rs in results.items():
    vals = [r["seed_steps_per_sec"] for r in rs if r]
    if not vals:
      print(f"{model:10s} {v:22s} failed")
      continue
    med = statistics.median(vals)
    base = [r["seed_steps_per_sec"] for r in results.get((model, "dispatch"), []) if r]
    ratio = med / statistics.median(base) if base else float("nan")
    rows.append({"model": model, "variant": v, "median": med, "all": vals, "ratio": ratio})
    print(f"{model:10s} {v:22s} {med:9.1f}  x{ratio:5.2f}  {['%.1f' % x for x in vals]}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  main()
