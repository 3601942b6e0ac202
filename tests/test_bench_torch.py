"""The PyTorch baseline models (jaxbench.benchmarking.torch_models) have the SPEC 1 shapes.

A baseline with a wrong architecture would make the speed ratio meaningless, so the layer
arithmetic is checked against hand-derived numbers (parameter counts from SPEC's layer list).
"""
import numpy as np
import pytest

import torch  # (installed by the README test command: torch==2.13.0, CPU)

from jaxbench import bench
from jaxbench.benchmarking import torch_models


def _count(model):
  return sum(p.numel() for p in model.parameters())


def test_2c2d_parameter_count():
  # conv 5x5x1x32 + 32, conv 5x5x32x64 + 64, dense 3136x1024 + 1024, dense 1024x10 + 10.
  expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (3136 * 1024 + 1024) + (1024 * 10 + 10)
  assert _count(torch_models.make("fmnist_2c2d").model) == expected


def test_3c3d_parameter_count_and_pooling_shapes():
  # conv 5x5x3x64, conv 3x3x64x96, conv 3x3x96x128, dense 1152x512, 512x256, 256x10 (+ biases):
  # the 3*3*128 = 1152 flatten size only comes out with TF-'SAME' 3x3/2 pooling of 28, 12, 6.
  expected = ((75 * 64 + 64) + (9 * 64 * 96 + 96) + (9 * 96 * 128 + 128)
              + (1152 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10))
  prob = torch_models.make("cifar10_3c3d")
  assert _count(prob.model) == expected
  x, y = prob.make_batch(np.random.RandomState(0))
  assert tuple(x.shape) == (128, 3, 32, 32)
  with torch.no_grad():
    assert tuple(prob.model(x[:2]).shape) == (2, 10)


def test_mlp_and_logreg_parameter_counts():
  assert _count(torch_models.make("mnist_logreg").model) == 784 * 10 + 10
  assert _count(torch_models.make("fmnist_mlp").model) == (
      784 * 1000 + 1000 + 1000 * 500 + 500 + 500 * 100 + 100 + 100 * 10 + 10)


def test_conv_models_output_shapes():
  with torch.no_grad():
    allcnnc = torch_models.make("cifar100_allcnnc").model.eval()
    assert tuple(allcnnc(torch.zeros(2, 3, 32, 32)).shape) == (2, 100)
    wrn = torch_models.make("svhn_wrn164").model.eval()
    assert tuple(wrn(torch.zeros(2, 3, 32, 32)).shape) == (2, 10)
    vae = torch_models.make("fmnist_vae").model.eval()
    assert tuple(vae(torch.zeros(2, 1, 28, 28)).shape) == (2,)   # per-example loss


def test_wrn164_parameter_count():
  # Pre-activation WRN-16-4 (SPEC P7): conv 3x3x3x16; group widths 64, 128, 256, 2 units each;
  # BN (2 parameters per channel); 1x1 shortcut convs where the width changes; dense 256x10.
  def unit(cin, cout, shortcut):
    return 2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout + (cin * cout if shortcut else 0)
  expected = 27 * 16
  expected += unit(16, 64, True) + unit(64, 64, False)
  expected += unit(64, 128, True) + unit(128, 128, False)
  expected += unit(128, 256, True) + unit(256, 256, False)
  expected += 2 * 256 + 256 * 10 + 10
  assert _count(torch_models.make("svhn_wrn164").model) == expected


def test_char_rnn_and_small_problems_train_one_step():
  for name in ("tolstoi_char_rnn", "quadratic_deep", "two_d_rosenbrock"):
    prob = torch_models.make(name)
    x, y = prob.make_batch(np.random.RandomState(0))
    loss = prob.loss(x, y)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_two_d_rosenbrock_value_at_start():
  # f(-0.5, 1.5) = (1.5)^2 + 100 (1.5 - 0.25)^2 = 2.25 + 156.25 = 158.5; zero noise adds nothing.
  prob = torch_models.make("two_d_rosenbrock")
  with torch.no_grad():
    assert float(prob.model(torch.zeros(3, 2))[0]) == pytest.approx(158.5)


def test_unknown_problem_names_the_choices():
  with pytest.raises(ValueError, match="fmnist_2c2d"):
    torch_models.make("nope")


def test_bench_torch_baseline_runs_from_the_package():
  # `jaxbench bench --torch` finds its baseline inside the installed package (issue 8).
  rows = bench.main(["--problems=quadratic_deep", "--num_seeds=1", "--seconds=0.2", "--torch",
                     "--optimizer=sgd"])
  (row,) = rows
  assert row["torch_seed_steps_per_sec"] > 0
  assert row["ratio_vs_torch"] == pytest.approx(row["seed_steps_per_sec"]
                                                / row["torch_seed_steps_per_sec"])


def test_bench_torch_with_its_default_allocator_runs_in_a_child_process():
  # --torch_allocator=default: PyTorch timed in a child process that does not inherit
  # jaxbench's tcmalloc preload (what a user's own PyTorch script gets).
  rows = bench.main(["--problems=quadratic_deep", "--num_seeds=1", "--seconds=0.2", "--torch",
                     "--torch_allocator=default", "--optimizer=sgd"])
  (row,) = rows
  assert row["torch_seed_steps_per_sec"] > 0
  assert row["torch_allocator"] == "PyTorch default (no jaxbench preload)"
  assert row["ratio_vs_torch"] == pytest.approx(row["seed_steps_per_sec"]
                                                / row["torch_seed_steps_per_sec"])
