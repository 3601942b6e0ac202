"""PyTorch versions of the benchmark problems' models (SPEC section 1), for the speed baseline.

Why: issue 5 compares jaxbench against the plain PyTorch loop DeepOBS-PyTorch users run. The
architectures (layer shapes, activations, dropout, batch norm, weight decay as an L2 term in the
loss) match SPEC section 1 so that both sides do the same arithmetic; initialisers are the
PyTorch defaults (they do not change the cost of a step). Inputs are NCHW, PyTorch's native
layout. `make(problem_name)` returns a `TorchProblem` with the model, a loss function and a
synthetic batch generator of the problem's true shapes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def _pad_same(kernel: int, stride: int, size: int) -> tuple[int, int, int, int]:
  """TensorFlow 'SAME' padding (extra pixel at the end) as F.pad's (left, right, top, bottom)."""
  out = math.ceil(size / stride)
  total = max((out - 1) * stride + kernel - size, 0)
  lo = total // 2
  return (lo, total - lo, lo, total - lo)


class ConvSame(nn.Module):
  """Conv2d with TF 'SAME' padding for any stride (PyTorch's padding='same' needs stride 1)."""

  def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=bias)
    self.kernel, self.stride = kernel, stride

  def forward(self, x):
    return self.conv(F.pad(x, _pad_same(self.kernel, self.stride, x.shape[-1])))


class Quadratic(nn.Module):
  def __init__(self, dim: int = 100):
    super().__init__()
    self.theta = nn.Parameter(torch.ones(dim))
    rng = np.random.RandomState(42)
    a = rng.normal(size=(dim, dim)).astype(np.float32)
    self.register_buffer("q", torch.from_numpy(a @ a.T / dim))  # same cost as the real Hessian

  def forward(self, x):
    d = self.theta[None] - x
    return 0.5 * ((d @ self.q) * d).sum(1)


class TwoD(nn.Module):
  def __init__(self, kind: str):
    super().__init__()
    start = {"rosenbrock": (-0.5, 1.5), "beale": (-4.5, 4.5), "branin": (2.5, 12.5)}[kind]
    self.u = nn.Parameter(torch.tensor(start[0]))
    self.v = nn.Parameter(torch.tensor(start[1]))
    self.kind = kind

  def forward(self, xy):
    u, v = self.u, self.v
    if self.kind == "rosenbrock":
      f = (1 - u) ** 2 + 100 * (v - u ** 2) ** 2
    elif self.kind == "beale":
      f = (1.5 - u + u * v) ** 2 + (2.25 - u + u * v ** 2) ** 2 + (2.625 - u + u * v ** 3) ** 2
    else:
      f = ((v - 5.1 / (4 * math.pi ** 2) * u ** 2 + 5 / math.pi * u - 6) ** 2
           + 10 * (1 - 1 / (8 * math.pi)) * torch.cos(u) + 10)
    return f + u * xy[:, 0] + v * xy[:, 1]


class LogReg(nn.Module):
  def __init__(self):
    super().__init__()
    self.fc = nn.Linear(784, 10)

  def forward(self, x):
    return self.fc(x.flatten(1))


class MLP(nn.Module):
  def __init__(self):
    super().__init__()
    self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in
                                 ((784, 1000), (1000, 500), (500, 100), (100, 10))])

  def forward(self, x):
    x = x.flatten(1)
    for layer in self.layers[:-1]:
      x = F.relu(layer(x))
    return self.layers[-1](x)


class TwoC2D(nn.Module):
  def __init__(self):
    super().__init__()
    self.c1 = nn.Conv2d(1, 32, 5, padding=2)
    self.c2 = nn.Conv2d(32, 64, 5, padding=2)
    self.f1 = nn.Linear(7 * 7 * 64, 1024)
    self.f2 = nn.Linear(1024, 10)

  def forward(self, x):
    x = F.max_pool2d(F.relu(self.c1(x)), 2, 2)
    x = F.max_pool2d(F.relu(self.c2(x)), 2, 2)
    return self.f2(F.relu(self.f1(x.flatten(1))))


class ThreeC3D(nn.Module):
  def __init__(self, classes: int):
    super().__init__()
    self.c1 = nn.Conv2d(3, 64, 5)
    self.c2 = nn.Conv2d(64, 96, 3)
    self.c3 = nn.Conv2d(96, 128, 3, padding=1)
    self.f1 = nn.Linear(3 * 3 * 128, 512)
    self.f2 = nn.Linear(512, 256)
    self.f3 = nn.Linear(256, classes)

  def forward(self, x):
    pool = lambda t: F.max_pool2d(t, 3, 2, padding=1)  # TF 'SAME' 3x3/2 on 28, 12, 6
    x = pool(F.relu(self.c1(x)))
    x = pool(F.relu(self.c2(x)))
    x = pool(F.relu(self.c3(x)))
    x = F.relu(self.f1(x.flatten(1)))
    return self.f3(F.relu(self.f2(x)))


class VAE(nn.Module):
  def __init__(self):
    super().__init__()
    self.e1 = ConvSame(1, 64, 4, 2)
    self.e2 = ConvSame(64, 64, 4, 2)
    self.e3 = ConvSame(64, 64, 4, 1)
    self.mean = nn.Linear(7 * 7 * 64, 8)
    self.logstd = nn.Linear(7 * 7 * 64, 8)
    self.d1 = nn.Linear(8, 24)
    self.d2 = nn.Linear(24, 49)
    self.t1 = nn.ConvTranspose2d(1, 64, 4, 2, padding=1)        # 7 -> 14
    self.t2 = nn.ConvTranspose2d(64, 64, 4, 1, padding=1)       # 14 -> 15, cropped to 14
    self.t3 = nn.ConvTranspose2d(64, 64, 4, 1, padding=1)
    self.out = nn.Linear(14 * 14 * 64, 784)

  def forward(self, x):
    lrelu = lambda t: torch.maximum(t, 0.3 * t)
    drop = lambda t: F.dropout(t, 0.2, self.training)
    h = drop(lrelu(self.e1(x)))
    h = drop(lrelu(self.e2(h)))
    h = drop(lrelu(self.e3(h))).flatten(1)
    mean, s = self.mean(h), 0.5 * self.logstd(h)
    z = mean + torch.randn_like(mean) * torch.exp(s)
    d = lrelu(self.d2(lrelu(self.d1(z)))).view(-1, 1, 7, 7)
    d = drop(F.relu(self.t1(d)))
    d = drop(F.relu(self.t2(d)[..., :14, :14]))
    d = F.relu(self.t3(d)[..., :14, :14])
    x_hat = torch.sigmoid(self.out(d.flatten(1)))
    rec = ((x_hat - x.flatten(1)) ** 2).sum(1)
    kl = -0.5 * (1 + 2 * s - mean ** 2 - torch.exp(2 * s)).sum(1)
    return rec + kl


class AllCNNC(nn.Module):
  def __init__(self):
    super().__init__()
    self.convs = nn.ModuleList([
      ConvSame(3, 96, 3), ConvSame(96, 96, 3), ConvSame(96, 96, 3, 2),
      ConvSame(96, 192, 3), ConvSame(192, 192, 3), ConvSame(192, 192, 3, 2),
      nn.Conv2d(192, 192, 3), nn.Conv2d(192, 192, 1), nn.Conv2d(192, 100, 1)])

  def forward(self, x):
    x = F.dropout(x, 0.2, self.training)
    for i, conv in enumerate(self.convs):
      x = F.relu(conv(x))
      if i in (2, 5):
        x = F.dropout(x, 0.5, self.training)
    return x.mean((2, 3))


class WRNUnit(nn.Module):
  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.bn1 = nn.BatchNorm2d(cin, eps=1e-5, momentum=0.1)
    self.conv1 = ConvSame(cin, cout, 3, stride, bias=False)
    self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
    self.conv2 = ConvSame(cout, cout, 3, 1, bias=False)
    self.short = (ConvSame(cin, cout, 1, stride, bias=False)
                  if cin != cout or stride != 1 else None)

  def forward(self, x):
    h = F.relu(self.bn1(x))
    shortcut = self.short(h) if self.short is not None else x
    h = self.conv2(F.relu(self.bn2(self.conv1(h))))
    return h + shortcut


class WRN(nn.Module):
  def __init__(self, units: int, width: int, classes: int):
    super().__init__()
    self.conv = ConvSame(3, 16, 3, bias=False)
    layers, cin = [], 16
    for w, stride in ((16 * width, 1), (32 * width, 2), (64 * width, 2)):
      for u in range(units):
        layers.append(WRNUnit(cin, w, stride if u == 0 else 1))
        cin = w
    self.units = nn.Sequential(*layers)
    self.bn = nn.BatchNorm2d(cin, eps=1e-5, momentum=0.1)
    self.fc = nn.Linear(cin, classes)

  def forward(self, x):
    x = F.relu(self.bn(self.units(self.conv(x))))
    return self.fc(x.mean((2, 3)))


class CharRNN(nn.Module):
  """Embedding 83->128, two LSTM(128) layers with input/output dropout 0.2, dense 128->83."""

  def __init__(self, vocab: int = 83, hidden: int = 128):
    super().__init__()
    self.emb = nn.Embedding(vocab, hidden)
    self.lstm1 = nn.LSTM(hidden, hidden, batch_first=True)
    self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
    self.fc = nn.Linear(hidden, vocab)
    self.state = None

  def forward(self, ids):
    drop = lambda t: F.dropout(t, 0.2, self.training)
    s1, s2 = self.state if self.state is not None else (None, None)
    h, s1 = self.lstm1(drop(self.emb(ids)), s1)
    h, s2 = self.lstm2(drop(drop(h)), s2)
    self.state = tuple(tuple(t.detach() for t in s) for s in (s1, s2))  # carried, truncated BPTT
    return self.fc(drop(h))


@dataclasses.dataclass
class TorchProblem:
  name: str
  batch_size: int
  model: nn.Module
  loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (inputs, targets) -> scalar
  make_batch: Callable[[np.random.RandomState], tuple[torch.Tensor, torch.Tensor]]


def _l2(model: nn.Module, wd: float) -> Callable[[], torch.Tensor]:
  """0.5 * wd * sum(w^2) over conv/dense kernels only (SPEC: never biases or BN parameters)."""
  kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
  return lambda: 0.5 * wd * sum((w * w).sum() for w in kernels)


def _images(shape, classes):
  def make(rng):
    x = torch.from_numpy(rng.uniform(0, 1, (shape[0],) + shape[1:]).astype(np.float32))
    y = torch.from_numpy(rng.randint(0, classes, shape[0]).astype(np.int64))
    return x, y
  return make


PROBLEMS = (
  "quadratic_deep", "two_d_rosenbrock", "two_d_beale", "two_d_branin", "mnist_logreg",
  "fmnist_logreg", "mnist_mlp", "fmnist_mlp", "mnist_2c2d", "fmnist_2c2d", "cifar10_3c3d",
  "cifar100_3c3d", "svhn_3c3d", "mnist_vae", "fmnist_vae", "cifar100_allcnnc", "svhn_wrn164",
  "cifar100_wrn404", "tolstoi_char_rnn")


def make(name: str) -> TorchProblem:
  """The PyTorch model, loss and synthetic batch maker of a problem (true shapes, default batch)."""
  if name not in PROBLEMS:
    raise ValueError(f"unknown problem {name!r}; valid choices: {', '.join(PROBLEMS)}")
  classes = 100 if "cifar100" in name else 10
  ce = lambda model, reg=None: (lambda x, y: F.cross_entropy(model(x), y)
                                + (reg() if reg is not None else 0.0))
  if name == "quadratic_deep":
    m = Quadratic()
    def mk(rng):
      return torch.from_numpy(rng.normal(0, 0.6, (128, 100)).astype(np.float32)), torch.zeros(128)
    return TorchProblem(name, 128, m, lambda x, y: m(x).mean(), mk)
  if name.startswith("two_d_"):
    m = TwoD(name[len("two_d_"):])
    def mk(rng):
      return torch.from_numpy(rng.normal(0, 1, (128, 2)).astype(np.float32)), torch.zeros(128)
    return TorchProblem(name, 128, m, lambda x, y: m(x).mean(), mk)
  if name.endswith("_logreg"):
    m = LogReg()
    return TorchProblem(name, 128, m, ce(m), _images((128, 1, 28, 28), 10))
  if name.endswith("_mlp"):
    m = MLP()
    return TorchProblem(name, 128, m, ce(m), _images((128, 1, 28, 28), 10))
  if name.endswith("_2c2d"):
    m = TwoC2D()
    return TorchProblem(name, 128, m, ce(m), _images((128, 1, 28, 28), 10))
  if name.endswith("_3c3d"):
    m = ThreeC3D(classes)
    return TorchProblem(name, 128, m, ce(m, _l2(m, 0.002)), _images((128, 3, 32, 32), classes))
  if name.endswith("_vae"):
    m = VAE()
    return TorchProblem(name, 64, m, lambda x, y: m(x).mean(), _images((64, 1, 28, 28), 10))
  if name == "cifar100_allcnnc":
    m = AllCNNC()
    return TorchProblem(name, 256, m, ce(m, _l2(m, 5e-4)), _images((256, 3, 32, 32), 100))
  if name.endswith(("_wrn164", "_wrn404")):
    m = WRN(2 if name.endswith("164") else 6, 4, classes)
    return TorchProblem(name, 128, m, ce(m, _l2(m, 5e-4)), _images((128, 3, 32, 32), classes))
  m = CharRNN()
  def mk(rng):
    ids = torch.from_numpy(rng.randint(0, 83, (50, 51)).astype(np.int64))
    return ids[:, :-1], ids[:, 1:]
  loss = lambda x, y: F.cross_entropy(m(x).reshape(-1, 83), y.reshape(-1))
  return TorchProblem(name, 50, m, loss, mk)
