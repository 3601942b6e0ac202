"""The fifteen optimizers of the Crowded Valley study (SPEC section 2), in the form it ran.

Each builder chains a direction transform with `optax.scale_by_learning_rate(learning_rate)`
(learning_rate a float, a traced array or a schedule count -> lr). The default `form` is the
TensorFlow-1-era update the paper measured, the one its published records single out
(BUILD_NOTES, "optimizers (session 3)", has the comparison); other `form`s give the textbook or
optax form where it differs. The registry spec of each optimizer sits right after its builder.
"""
from __future__ import annotations

from typing import Any

import optax

from jaxbench.errors import ConfigError
from jaxbench.optimizers import transforms
from jaxbench.optimizers.lookahead import lookahead, lookahead_tf1
from jaxbench.optimizers.spec import POSITIVE, OptimizerSpec, check_value
from jaxbench.tuning.space import IntUniform, LogUniform, OneMinusLogUniform

LearningRate = Any  # float | jax.Array | Callable[[count], lr]

LR = LogUniform(1e-4, 1.0)
B1 = LogUniform(0.5, 0.999)
B2 = LogUniform(0.8, 0.999)
RHO = OneMinusLogUniform(1e-4, 1.0)
ALPHA = LogUniform(1e-4, 1.0)
K = IntUniform(1, 20)
ADAM_DEFAULTS = {'b1': 0.9, 'b2': 0.999}


def _with_lr(direction: optax.GradientTransformation, learning_rate: LearningRate
             ) -> optax.GradientTransformation:
  return optax.chain(direction, optax.scale_by_learning_rate(learning_rate))


def sgd(*, learning_rate: LearningRate) -> optax.GradientTransformation:
  """theta -= lr g. The state counts the steps (an empty state cannot be saved alone)."""
  return _with_lr(transforms.count_steps(), learning_rate)


SGD = OptimizerSpec('sgd', sgd, {'learning_rate': 1e-2}, {'learning_rate': LR},
            reference='Robbins & Monro 1951; tf.compat.v1.train.GradientDescentOptimizer',
            paper=True)


def momentum(*, learning_rate: LearningRate, rho: Any) -> optax.GradientTransformation:
  """Heavy ball, TF1 MomentumOptimizer form: v = rho v + g; theta -= lr v.

  The accumulator holds raw gradients, so a schedule rescales the whole velocity at once (this
  is also optax.sgd's and PyTorch's form)."""
  return _with_lr(optax.trace(decay=rho), learning_rate)


MOMENTUM = OptimizerSpec('momentum', momentum, {'learning_rate': 1e-2, 'rho': 0.99},
                 {'learning_rate': LR, 'rho': RHO},
                 reference='Polyak 1964; tf.compat.v1.train.MomentumOptimizer', paper=True)


def nag(*, learning_rate: LearningRate, rho: Any) -> optax.GradientTransformation:
  """Nesterov, TF1 MomentumOptimizer(use_nesterov=True): v = rho v + g; theta -= lr (g + rho v)."""
  return _with_lr(optax.trace(decay=rho, nesterov=True), learning_rate)


NAG = OptimizerSpec('nag', nag, {'learning_rate': 1e-2, 'rho': 0.99}, {'learning_rate': LR, 'rho': RHO},
            reference='Nesterov 1983; Sutskever et al. 2013; TF1 MomentumOptimizer(use_nesterov)',
            paper=True)


def adam(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, form: str
         ) -> optax.GradientTransformation:
  """Adam.

  form='tf1' (default, tf.compat.v1.train.AdamOptimizer):
      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
      theta -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
  form='optax' (Kingma & Ba's Algorithm 1, optax.adam):
      theta -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)
  """
  if form == 'tf1':
    return _with_lr(transforms.scale_by_adam_tf1(b1, b2, eps), learning_rate)
  return _with_lr(optax.scale_by_adam(b1, b2, eps), learning_rate)


ADAM = OptimizerSpec('adam', adam, {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-8, 'form': 'tf1'},
             {'learning_rate': LR, 'b1': B1, 'b2': B2},
             reference='Kingma & Ba 2015; tf.compat.v1.train.AdamOptimizer', paper=True,
             choices={'form': ('tf1', 'optax')})


def amsgrad(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, form: str
            ) -> optax.GradientTransformation:
  """AMSGrad.

  form='tf1' (default; Adam's TF1 update with the max of the raw second moment):
      v_max = max(v_max, v);  theta -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v_max) + eps)
  form='optax' (optax.amsgrad): v_max = max(v_max, v_hat); theta -= lr m_hat / (sqrt(v_max) + eps)
  """
  if form == 'tf1':
    return _with_lr(transforms.scale_by_adam_tf1(b1, b2, eps, amsgrad=True), learning_rate)
  return _with_lr(optax.scale_by_amsgrad(b1, b2, eps), learning_rate)


AMSGRAD = OptimizerSpec('amsgrad', amsgrad,
                {'learning_rate': 1e-2, **ADAM_DEFAULTS, 'eps': 1e-8, 'form': 'tf1'},
                {'learning_rate': LR, 'b1': B1, 'b2': B2},
                reference='Reddi et al. 2018 (ICLR); TF/Keras Adam(amsgrad=True) update',
                paper=True, choices={'form': ('tf1', 'optax')})


def nadam(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, momentum_decay: Any,
          form: str) -> optax.GradientTransformation:
  """NAdam (Dozat 2016).

  form='tf1' (default; tf.contrib.opt.NadamOptimizer, the form the published records match to
  within 0.05 on quadratic_deep, BUILD_NOTES "optimizers (session 3)"): Adam's TF1 update
  with numerator b1 m + (1-b1) g:
      theta -= lr sqrt(1-b2^t)/(1-b1^t) (b1 m + (1-b1) g) / (sqrt(v) + eps)
  form='keras' (tf.keras.optimizers.Nadam of TF 2.x = torch.optim.NAdam), with
  psi = momentum_decay = 0.004:
      mu_t = b1 (1 - 0.5 * 0.96^(psi t));  P_t = prod_{i<=t} mu_i
      theta -= lr [(1-mu_t) g / (1-P_t) + mu_{t+1} m / (1-P_t mu_{t+1})] / (sqrt(v/(1-b2^t)) + eps)
  form='optax' (optax.nadam): theta -= lr (b1 m_hat_{t+1} + (1-b1) g/(1-b1^t)) / (sqrt(v_hat) + eps)
  with m_hat_{t+1} = m/(1-b1^{t+1}). momentum_decay only affects form='keras'.
  """
  if form == 'keras':
    return _with_lr(transforms.scale_by_nadam_dozat(b1, b2, eps, momentum_decay), learning_rate)
  if form == 'tf1':
    return _with_lr(transforms.scale_by_adam_tf1(b1, b2, eps, nesterov=True), learning_rate)
  return _with_lr(optax.scale_by_adam(b1, b2, eps, nesterov=True), learning_rate)


NADAM = OptimizerSpec('nadam', nadam,
              {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-7, 'momentum_decay': 0.004,
               'form': 'tf1'},
              {'learning_rate': LR, 'b1': B1, 'b2': B2},
              reference='Dozat 2016 (ICLR workshop); tf.contrib.opt.NadamOptimizer', paper=True,
              choices={'form': ('tf1', 'keras', 'optax')})


def radam(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, threshold: Any
          ) -> optax.GradientTransformation:
  """Rectified Adam (Liu et al. 2020), tfa.optimizers.RectifiedAdam form (optax.scale_by_radam's
  update, with rho_inf from the float32 b2 whether b2 is concrete or traced: see
  transforms.scale_by_radam).

      rho_inf = 2/(1-b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1-b2^t)
      r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
      theta -= lr * (r_t m_hat / (sqrt(v_hat) + eps)   if rho_t >= threshold (5)
                     m_hat                              otherwise: un-adapted momentum SGD)
  The SMA threshold 5 is tfa's default and the official code's `N_sma >= 5`; with b2 = 0.999
  the first 5 steps (rho_t < 5) are momentum-SGD steps.
  """
  return _with_lr(transforms.scale_by_radam(b1, b2, eps, threshold), learning_rate)


RADAM = OptimizerSpec('radam', radam,
              {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-7, 'threshold': 5.0},
              {'learning_rate': LR, 'b1': B1, 'b2': B2},
              reference='Liu et al. 2020 (ICLR); tfa.optimizers.RectifiedAdam', paper=True)


def adabelief(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, threshold: Any,
              form: str) -> optax.GradientTransformation:
  """AdaBelief (Zhuang et al. 2020) as the authors' TensorFlow package `adabelief_tf` (0.2.x,
  AdaBeliefOptimizer, github.com/juntang-zhuang/Adabelief-Optimizer, pypi_packages/adabelief_tf*)
  computes it:

      m = b1 m + (1-b1) g;  s = b2 s + (1-b2) (g - m)^2 + eps;  m_hat = m/(1-b1^t)
  form='rectified' (default; the package's default rectify=True, sma_threshold=5, and the form
  the published records match):
      theta -= lr * (r_t m_hat / (sqrt(s/(1-b2^t)) + eps)   if rho_t >= threshold (5)
                     m_hat                                  otherwise: un-adapted momentum)
    with RAdam's rho_t and r_t; with b2 = 0.999 the first five steps are un-adapted.
  form='unrectified' (the paper's Algorithm 2, rectify=False, = optax.scale_by_belief with
  eps_root = eps): theta -= lr * m_hat / (sqrt(s/(1-b2^t)) + eps). threshold is unused there.
  See transforms.scale_by_adabelief."""
  direction = transforms.scale_by_adabelief(b1, b2, eps, threshold, rectify=form == 'rectified')
  return _with_lr(direction, learning_rate)


ADABELIEF = OptimizerSpec(
    'adabelief', adabelief,
    {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-14, 'threshold': 5.0, 'form': 'rectified'},
    {'learning_rate': LR, 'b1': B1, 'b2': B2},
    reference='Zhuang et al. 2020 (NeurIPS); adabelief_tf 0.2 AdaBeliefOptimizer (rectify=True)',
    paper=True, choices={'form': ('rectified', 'unrectified')})


def _base_rate(name: str, learning_rate: LearningRate, base_learning_rate: Any) -> Any:
  """The base rate lr_0 that AdaBound's bounds are relative to: `base_learning_rate` if given,
  else the learning rate itself when it is a number. A schedule's value at any one step is not
  its base rate (a warm-up starts at 0, one-cycle below it), so a schedule needs it explicitly."""
  if base_learning_rate is not None:
    check_value(name, 'base_learning_rate', base_learning_rate, POSITIVE)
    return base_learning_rate
  if callable(learning_rate):
    raise ConfigError(f'{name}: learning_rate is a schedule, so base_learning_rate is needed '
                      '(the bounds are final_lr * lr_t / base_learning_rate); pass '
                      "base_learning_rate=<the schedule's base rate>")
  return learning_rate


def adabound(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, final_lr: Any,
             gamma: Any, base_learning_rate: Any = None, amsbound: bool = False
             ) -> optax.GradientTransformation:
  """AdaBound (Luo et al. 2019), the authors' update:

      lr_t = lr sqrt(1-b2^t)/(1-b1^t);  final = final_lr * lr / lr_0   (lr_0 = base_learning_rate)
      theta -= clip(lr_t / (sqrt(v) + eps), final (1 - 1/(gamma t + 1)), final (1 + 1/(gamma t))) m
  (AMSBound: v replaced by v_max = max(v_max, v)). lr_0 is `base_learning_rate`, or the learning
  rate itself when that is a number; with a schedule it must be given. See
  transforms.scale_by_adabound for why the rate can be factored out of the clip."""
  base = _base_rate('amsbound' if amsbound else 'adabound', learning_rate, base_learning_rate)
  direction = transforms.scale_by_adabound(base, b1, b2, eps, final_lr, gamma, amsbound=amsbound)
  return _with_lr(direction, learning_rate)


ADABOUND_DEFAULTS = {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-8, 'final_lr': 0.1,
                     'gamma': 1e-3}
ADABOUND_SPACE = {'learning_rate': LR, 'b1': B1, 'b2': B2,
                  'final_lr': LogUniform(1e-3, 0.5), 'gamma': LogUniform(1e-4, 1e-1)}
ADABOUND = OptimizerSpec('adabound', adabound, ADABOUND_DEFAULTS, ADABOUND_SPACE,
                 reference='Luo et al. 2019 (ICLR); github.com/Luolc/AdaBound', paper=True,
                 ranges={'learning_rate': POSITIVE})  # lr_0 divides final_lr


def amsbound(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, final_lr: Any,
             gamma: Any, base_learning_rate: Any = None) -> optax.GradientTransformation:
  """AMSBound: AdaBound with the AMSGrad maximum of v in the denominator."""
  return adabound(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, final_lr=final_lr,
                  gamma=gamma, base_learning_rate=base_learning_rate, amsbound=True)


AMSBOUND = OptimizerSpec('amsbound', amsbound, ADABOUND_DEFAULTS, ADABOUND_SPACE,
                 reference='Luo et al. 2019 (ICLR); github.com/Luolc/AdaBound', paper=True,
                 ranges={'learning_rate': POSITIVE})


def adadelta(*, learning_rate: LearningRate, rho: Any, eps: Any) -> optax.GradientTransformation:
  """Adadelta (Zeiler 2012) scaled by lr, tf.compat.v1.train.AdadeltaOptimizer (lr default 1e-3):

      a = rho a + (1-rho) g^2;  d = sqrt(b + eps) / sqrt(a + eps) g;  b = rho b + (1-rho) d^2
      theta -= lr d                                       (= optax.scale_by_adadelta)"""
  return _with_lr(optax.scale_by_adadelta(rho, eps), learning_rate)


ADADELTA = OptimizerSpec('adadelta', adadelta, {'learning_rate': 1e-3, 'rho': 0.95, 'eps': 1e-8},
                 {'learning_rate': LR, 'rho': RHO},
                 reference='Zeiler 2012; tf.compat.v1.train.AdadeltaOptimizer', paper=True)


def adagrad(*, learning_rate: LearningRate, initial_accumulator_value: Any, eps: Any
            ) -> optax.GradientTransformation:
  """Adagrad, tf.compat.v1.train.AdagradOptimizer: a = a0 + sum g^2 (a0 = 0.1);
  theta -= lr g / sqrt(a). eps (default 0, TF1 has none) is added inside the root as optax
  does (optax.adagrad's form is eps = 1e-7)."""
  return _with_lr(optax.scale_by_rss(initial_accumulator_value, eps), learning_rate)


ADAGRAD = OptimizerSpec('adagrad', adagrad,
                {'learning_rate': 1e-2, 'initial_accumulator_value': 0.1, 'eps': 0.0},
                {'learning_rate': LR},
                reference='Duchi et al. 2011; tf.compat.v1.train.AdagradOptimizer', paper=True)


def rmsprop(*, learning_rate: LearningRate, rho: Any, eps: Any, form: str
            ) -> optax.GradientTransformation:
  """RMSProp (Tieleman & Hinton 2012).

  form='tf1' (default, tf.compat.v1.train.RMSPropOptimizer, momentum 0, not centered):
      ms_0 = 1;  ms = rho ms + (1-rho) g^2;  theta -= lr g / sqrt(ms + eps)
  form='optax' (optax.rmsprop): the same with ms_0 = 0, which makes the first steps
  about 1/sqrt(1-rho) times larger."""
  initial_scale = 1.0 if form == 'tf1' else 0.0
  return _with_lr(optax.scale_by_rms(decay=rho, eps=eps, initial_scale=initial_scale),
                  learning_rate)


RMSPROP = OptimizerSpec('rmsprop', rmsprop, {'learning_rate': 1e-3, 'rho': 0.9, 'eps': 1e-10,
                                     'form': 'tf1'},
                {'learning_rate': LR, 'rho': RHO},
                reference='Tieleman & Hinton 2012; tf.compat.v1.train.RMSPropOptimizer',
                paper=True, choices={'form': ('tf1', 'optax')})


LOOKAHEAD_FORMS = ('tf1', 'textbook')


def lookahead_momentum(*, learning_rate: LearningRate, rho: Any, alpha: Any, k: Any, form: str
                       ) -> optax.GradientTransformation:
  """Lookahead (alpha = slow step, k = sync period) around `momentum`.

  form='tf1' (default; the form the published records match, see lookahead.lookahead_tf1):
  every k-th call, from the first, is a sync instead of a momentum step (the velocity is kept).
  form='textbook' (Zhang et al.'s Algorithm 1, tfa.optimizers.Lookahead): k momentum steps,
  then the sync."""
  if form == 'tf1':
    return lookahead_tf1(optax.trace(decay=rho), learning_rate, alpha, k)
  return lookahead(momentum(learning_rate=learning_rate, rho=rho), alpha, k)


LOOKAHEAD_MOMENTUM = OptimizerSpec(
    'lookahead_momentum', lookahead_momentum,
    {'learning_rate': 1e-2, 'rho': 0.99, 'alpha': 0.5, 'k': 5, 'form': 'tf1'},
    {'learning_rate': LR, 'rho': RHO, 'alpha': ALPHA, 'k': K},
    reference='Zhang et al. 2019 (NeurIPS); a TF1 LookaheadOptimizer(fast_optimizer, k, alpha)',
    paper=True, choices={'form': LOOKAHEAD_FORMS})


def lookahead_radam(*, learning_rate: LearningRate, b1: Any, b2: Any, eps: Any, threshold: Any,
                    alpha: Any, k: Any, form: str) -> optax.GradientTransformation:
  """Lookahead (alpha = slow step, k = sync period) around `radam`.

  form='tf1' (default; the form the published records match): the TF1 wrapper of
  lookahead.lookahead_tf1 around a TF1 RAdam whose `_finish` never runs, so its step and beta
  powers stay at t = 1 (rho_1 = 1 < threshold): every fast step is the un-adapted
  lr * m / (1 - b1), and b2, eps and threshold have no effect.
  form='textbook': tfa.optimizers.Lookahead(RectifiedAdam) (k RAdam steps, then the sync)."""
  if form == 'tf1':
    inner = transforms.scale_by_radam(b1, b2, eps, threshold, pinned_step=True)
    return lookahead_tf1(inner, learning_rate, alpha, k)
  inner = radam(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, threshold=threshold)
  return lookahead(inner, alpha, k)


LOOKAHEAD_RADAM = OptimizerSpec(
    'lookahead_radam', lookahead_radam,
    {'learning_rate': 1e-3, **ADAM_DEFAULTS, 'eps': 1e-7, 'threshold': 5.0, 'alpha': 0.5, 'k': 5,
     'form': 'tf1'},
    {'learning_rate': LR, 'b1': B1, 'b2': B2, 'alpha': ALPHA, 'k': K},
    reference='Zhang et al. 2019 (NeurIPS) around Liu et al. 2020; TF1 LookaheadOptimizer(RAdam)',
    paper=True, choices={'form': LOOKAHEAD_FORMS})

# SPEC section 2 order.
SPECS: tuple[OptimizerSpec, ...] = (SGD, MOMENTUM, NAG, ADAM, AMSGRAD, NADAM, RADAM, ADABELIEF, ADABOUND,
                              AMSBOUND, ADADELTA, ADAGRAD, RMSPROP, LOOKAHEAD_MOMENTUM,
                              LOOKAHEAD_RADAM)
