"""Time each convolution of the fmnist_2c2d step alone, jax vs torch (min of 10; ms).

Why: whole-step timings on the shared 2-core machine were too noisy to separate XLA options;
single ops timed by their minimum were not. Run once per XLA_FLAGS setting, e.g.
  python benchmarks/conv_parts.py
  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution python benchmarks/conv_parts.py
"""
import time
import jax, jax.numpy as jnp, numpy as np, torch
from jax import lax
B=128
x2 = jnp.asarray(np.random.rand(B,14,14,32).astype(np.float32)); w2 = jnp.asarray(np.random.rand(5,5,32,64).astype(np.float32))
x1 = jnp.asarray(np.random.rand(B,28,28,1).astype(np.float32)); w1 = jnp.asarray(np.random.rand(5,5,1,32).astype(np.float32))
dn=('NHWC','HWIO','NHWC')
conv = lambda x,w: lax.conv_general_dilated(x,w,(1,1),'SAME',dimension_numbers=dn)
f_fwd2 = jax.jit(conv)
f_dx2 = jax.jit(lambda x,w,g: jax.vjp(lambda x: conv(x,w), x)[1](g)[0])
f_dw2 = jax.jit(lambda x,w,g: jax.vjp(lambda w: conv(x,w), w)[1](g)[0])
f_dw1 = jax.jit(lambda x,w,g: jax.vjp(lambda w: conv(x,w), w)[1](g)[0])
f_fwd1 = jax.jit(conv)
g2 = conv(x2,w2); g1 = conv(x1,w1)
a = jnp.asarray(np.random.rand(B,3136).astype(np.float32)); W = jnp.asarray(np.random.rand(3136,1024).astype(np.float32))
f_dense = jax.jit(lambda a,W: a@W)
f_dense_dw = jax.jit(lambda a,g: a.T@g)
gd = a@W
jobs = {'fwd2': lambda: f_fwd2(x2,w2), 'dx2': lambda: f_dx2(x2,w2,g2), 'dw2': lambda: f_dw2(x2,w2,g2),
        'fwd1': lambda: f_fwd1(x1,w1), 'dw1': lambda: f_dw1(x1,w1,g1), 'dense': lambda: f_dense(a,W), 'dense_dw': lambda: f_dense_dw(a,gd)}
tx2 = torch.rand(B,32,14,14, requires_grad=True); tw2 = torch.rand(64,32,5,5, requires_grad=True)
tx1 = torch.rand(B,1,28,28); tw1 = torch.rand(32,1,5,5, requires_grad=True)
F=torch.nn.functional
ty2 = F.conv2d(tx2,tw2,padding=2); tg2 = torch.rand_like(ty2)
ty1 = F.conv2d(tx1,tw1,padding=2); tg1 = torch.rand_like(ty1)
ta = torch.rand(B,3136); tW = torch.rand(1024,3136); tgd=torch.rand(B,1024)
def tdw2():
  return torch.nn.grad.conv2d_weight(tx2, tw2.shape, tg2, padding=2)
def tdx2():
  return torch.nn.grad.conv2d_input(tx2.shape, tw2, tg2, padding=2)
def tdw1():
  return torch.nn.grad.conv2d_weight(tx1, tw1.shape, tg1, padding=2)
tjobs = {'fwd2': lambda: F.conv2d(tx2,tw2,padding=2), 'dx2': tdx2, 'dw2': tdw2, 'fwd1': lambda: F.conv2d(tx1,tw1,padding=2), 'dw1': tdw1,
         'dense': lambda: F.linear(ta,tW), 'dense_dw': lambda: tgd.T@ta}
def tm(f, n=10):
  f(); jax.block_until_ready(f())
  ts=[]
  for _ in range(n):
    t=time.perf_counter(); r=f(); jax.block_until_ready(r) if not isinstance(r, torch.Tensor) else None; ts.append(time.perf_counter()-t)
  return min(ts)*1e3
with torch.no_grad():
  for k in jobs:
    print(f"{k:10s} jax {tm(jobs[k]):8.2f} ms  torch {tm(tjobs[k]):8.2f} ms", flush=True)
