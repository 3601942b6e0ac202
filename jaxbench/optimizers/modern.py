"""Optimizers newer than the study, as optax / optax.contrib ship them (beyond the paper).

Defaults are the authors' (or optax's); search spaces reuse the shared hyperparameter names so
common random numbers pair them with the paper's optimizers, with ranges of their own where the
method's scale differs (Lion's and Prodigy's learning rates).
"""
from __future__ import annotations

from typing import Any

import jax
import optax
import optax.contrib

from jaxbench.optimizers import transforms
from jaxbench.optimizers.paper import B1, B2, LR, LearningRate
from jaxbench.optimizers.spec import OptimizerSpec, Range
from jaxbench.optimizers.swa import find_state
from jaxbench.tuning.space import LogUniform, OneMinusLogUniform

WEIGHT_DECAY = LogUniform(1e-5, 1e-1)


def adamw(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, weight_decay: Any
          ) -> optax.GradientTransformation:
  """AdamW (Loshchilov & Hutter 2019), optax.adamw:
  theta -= lr (m_hat / (sqrt(v_hat) + eps) + wd theta).
  The decay applies to every parameter (the problems' own L2 term applies besides)."""
  return optax.adamw(learning_rate, b1, b2, eps, weight_decay=weight_decay)


ADAMW = OptimizerSpec('adamw', adamw,
              {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'weight_decay': 1e-2},
              {'learning_rate': LR, 'b1': B1, 'b2': B2, 'weight_decay': WEIGHT_DECAY},
              reference='Loshchilov & Hutter 2019 (ICLR); optax.adamw (wd default as PyTorch)')


def lion(*, learning_rate: LearningRate, b1: Any, b2: Any, weight_decay: Any
         ) -> optax.GradientTransformation:
  """Lion (Chen et al. 2023), optax.lion:
  theta -= lr (sign(b1 m + (1-b1) g) + wd theta);  m = b2 m + (1-b2) g."""
  return optax.lion(learning_rate, b1, b2, weight_decay=weight_decay)


LION = OptimizerSpec('lion', lion, {'learning_rate': 1e-4, 'b1': 0.9, 'b2': 0.99, 'weight_decay': 1e-3},
             {'learning_rate': LogUniform(1e-5, 1e-1), 'b1': B1, 'b2': B2,
              'weight_decay': WEIGHT_DECAY},
             reference='Chen et al. 2023 (NeurIPS); optax.lion')


def schedule_free_adamw(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any,
                        weight_decay: Any) -> optax.GradientTransformation:
  """Schedule-free AdamW (Defazio et al. 2024), optax.contrib.schedule_free_adamw. The loop's
  params are the gradient-evaluation point y; evaluate `eval_params` (the average x)."""
  return optax.contrib.schedule_free_adamw(learning_rate, b1=b1, b2=b2, eps=eps,
                                           weight_decay=weight_decay)


def schedule_free_eval_params(opt_state: optax.OptState, params: optax.Params) -> optax.Params:
  """The average x of the ScheduleFreeState wherever it sits in `opt_state` (under chain,
  inject_hyperparams, apply_if_finite, MultiSteps, ...)."""
  state = find_state(opt_state, optax.contrib.ScheduleFreeState)
  if state is None:
    raise ValueError('no ScheduleFreeState in this optimizer state: it was not built by '
                     'schedule_free_adamw')
  return optax.contrib.schedule_free_eval_params(state, params)


SCHEDULE_FREE_ADAMW = OptimizerSpec(
    'schedule_free_adamw', schedule_free_adamw,
    {'learning_rate': 2.5e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'weight_decay': 0.0},
    {'learning_rate': LR, 'b1': B1, 'b2': B2},
    reference='Defazio et al. 2024 (NeurIPS); optax.contrib.schedule_free_adamw',
    eval_params=schedule_free_eval_params)


def prodigy(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, weight_decay: Any
            ) -> optax.GradientTransformation:
  """Prodigy (Mishchenko & Defazio 2024), optax.contrib.prodigy: Adam with a step size D
  estimated online; learning_rate is a multiplier of the estimate (1 = as published)."""
  return optax.contrib.prodigy(learning_rate, betas=(b1, b2), eps=eps, weight_decay=weight_decay)


PRODIGY = OptimizerSpec('prodigy', prodigy,
                {'learning_rate': 1.0, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'weight_decay': 0.0},
                {'learning_rate': LogUniform(1e-1, 1e1), 'b1': B1, 'b2': B2},
                reference='Mishchenko & Defazio 2024 (ICML); optax.contrib.prodigy')


def adopt(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any
          ) -> optax.GradientTransformation:
  """ADOPT (Taniguchi et al. 2024), optax.contrib.adopt: normalise g by the *previous* second
  moment, then momentum; v_0 = g_0^2 and the first step is skipped."""
  return optax.contrib.adopt(learning_rate, b1, b2, eps)


ADOPT = OptimizerSpec('adopt', adopt, {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.9999, 'eps': 1e-6},
              {'learning_rate': LR, 'b1': B1, 'b2': LogUniform(0.8, 0.9999)},
              reference='Taniguchi et al. 2024 (NeurIPS); optax.contrib.adopt')


def _muon_dimension_numbers(params: optax.Params) -> optax.Params:
  """Every leaf of rank >= 2 is a matrix (all leading axes reduced, the last one the output:
  a conv kernel HWIO becomes (H*W*I, O)); vectors and scalars (biases, BatchNorm) get None,
  which sends them to muon's Adam fallback."""
  def dims(leaf):
    if leaf.ndim < 2:
      return None
    return optax.contrib.MuonDimensionNumbers(reduction_axis=tuple(range(leaf.ndim - 1)),
                                              output_axis=leaf.ndim - 1)
  return jax.tree.map(dims, params)


def muon(*, learning_rate: LearningRate, b1: Any, weight_decay: Any, adam_lr_ratio: Any
         ) -> optax.GradientTransformation:
  """Muon (Jordan et al. 2024), optax.contrib.muon: Nesterov momentum (EMA coefficient b1)
  orthogonalised by 5 Newton-Schulz steps, for every parameter of rank >= 2 (conv kernels
  flattened to matrices, see _muon_dimension_numbers); the rest (biases, BatchNorm scales) runs
  Adam at rate learning_rate * adam_lr_ratio (default 0.05: 1e-3 at muon's 0.02)."""
  if callable(learning_rate):
    adam_rate = lambda count: adam_lr_ratio * learning_rate(count)
  else:
    adam_rate = adam_lr_ratio * learning_rate
  return optax.contrib.muon(learning_rate, beta=b1, weight_decay=weight_decay,
                            adam_learning_rate=adam_rate,
                            muon_weight_dimension_numbers=_muon_dimension_numbers)


MUON = OptimizerSpec('muon', muon,
             {'learning_rate': 0.02, 'b1': 0.95, 'weight_decay': 0.0, 'adam_lr_ratio': 0.05},
             {'learning_rate': LR, 'b1': B1},
             reference='Jordan et al. 2024 (github.com/KellerJordan/Muon); optax.contrib.muon')


# Further optax optimizers from the study's catalogue (../shared/optimizer_catalogue.md): each is
# one entry; the catalogue reads them as runnable through the live registry.


def adamax(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any
           ) -> optax.GradientTransformation:
  """AdaMax (Kingma & Ba 2015, section 7.1), optax.adamax:
  m = b1 m + (1-b1) g;  u = max(b2 u, |g|);  theta -= lr / (1-b1^t) m / (u + eps)."""
  return optax.adamax(learning_rate, b1, b2, eps)


ADAMAX = OptimizerSpec('adamax', adamax, {'learning_rate': 2e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8},
               {'learning_rate': LR, 'b1': B1, 'b2': B2},
               reference='Kingma & Ba 2015 (ICLR), Algorithm 2; optax.adamax')


def yogi(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any
         ) -> optax.GradientTransformation:
  """Yogi (Zaheer et al. 2018), optax.yogi: v = v - (1-b2) sign(v - g^2) g^2; Adam otherwise."""
  return optax.yogi(learning_rate, b1, b2, eps)


YOGI = OptimizerSpec('yogi', yogi, {'learning_rate': 1e-2, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-3},
             {'learning_rate': LR, 'b1': B1, 'b2': B2},
             reference='Zaheer et al. 2018 (NeurIPS); optax.yogi (defaults as published)')


def lamb(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, weight_decay: Any
         ) -> optax.GradientTransformation:
  """LAMB (You et al. 2020), optax.lamb: the Adam direction plus decoupled weight decay,
  rescaled per parameter tensor by the trust ratio ||theta|| / ||direction||."""
  return optax.lamb(learning_rate, b1, b2, eps, weight_decay=weight_decay)


LAMB = OptimizerSpec('lamb', lamb,
             {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-6, 'weight_decay': 0.0},
             {'learning_rate': LR, 'b1': B1, 'b2': B2},
             reference='You et al. 2020 (ICLR); optax.lamb')


def novograd(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, weight_decay: Any
             ) -> optax.GradientTransformation:
  """NovoGrad (Ginsburg et al. 2019), optax.novograd: a per-layer second moment of ||g||^2,
  gradients normalised by it, plus weight decay, then momentum."""
  return optax.novograd(learning_rate, b1, b2, eps, weight_decay=weight_decay)


NOVOGRAD = OptimizerSpec('novograd', novograd,
                 {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.25, 'eps': 1e-6, 'weight_decay': 0.0},
                 {'learning_rate': LR, 'b1': B1},
                 reference='Ginsburg et al. 2019 (arXiv 1905.11286); optax.novograd')


def lars(*, learning_rate: LearningRate, rho: Any, weight_decay: Any, trust_coefficient: Any
         ) -> optax.GradientTransformation:
  """LARS (You et al. 2017), optax.lars: SGD with momentum `rho` on the layer-wise rescaled
  gradient trust_coefficient ||theta|| / ||g + wd theta|| (g + wd theta)."""
  return optax.lars(learning_rate, weight_decay=weight_decay,
                    trust_coefficient=trust_coefficient, momentum=rho)


LARS = OptimizerSpec('lars', lars,
             {'learning_rate': 1.0, 'rho': 0.9, 'weight_decay': 0.0, 'trust_coefficient': 1e-3},
             {'learning_rate': LR, 'rho': OneMinusLogUniform(1e-4, 1.0)},
             ranges={'trust_coefficient': Range(0.0, low_inclusive=False)},
             reference='You et al. 2017 (arXiv 1708.03888); optax.lars')


def sign_sgd(*, learning_rate: LearningRate) -> optax.GradientTransformation:
  """signSGD (Bernstein et al. 2018), optax.sign_sgd: theta -= lr sign(g). The state counts
  the steps (optax's is empty, which orbax cannot save alone)."""
  return optax.chain(transforms.count_steps(), optax.sign_sgd(learning_rate))


SIGN_SGD = OptimizerSpec('sign_sgd', sign_sgd, {'learning_rate': 1e-3}, {'learning_rate': LR},
                 reference='Bernstein et al. 2018 (ICML); optax.sign_sgd')


def madgrad(*, learning_rate: LearningRate, rho: Any, eps: Any, weight_decay: Any
            ) -> optax.GradientTransformation:
  """MADGRAD (Defazio & Jelassi 2021), optax.contrib.madgrad: dual averaging with a cube-root
  second-moment denominator and momentum `rho` (the paper's c = 1 - rho)."""
  return optax.contrib.madgrad(learning_rate, momentum=rho, weight_decay=weight_decay, eps=eps)


MADGRAD = OptimizerSpec('madgrad', madgrad,
                {'learning_rate': 1e-2, 'rho': 0.9, 'eps': 1e-6, 'weight_decay': 0.0},
                {'learning_rate': LR, 'rho': OneMinusLogUniform(1e-4, 1.0)},
                reference='Defazio & Jelassi 2021 (arXiv 2101.11075); optax.contrib.madgrad')

SPECS: tuple[OptimizerSpec, ...] = (ADAMW, LION, SCHEDULE_FREE_ADAMW, PRODIGY, ADOPT, MUON, ADAMAX,
                              YOGI, LAMB, NOVOGRAD, LARS, SIGN_SGD, MADGRAD)
