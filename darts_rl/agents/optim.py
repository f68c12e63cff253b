"""How weights and architecture weights learn together: `DualOptimizer`.

The alphas are a pytree separate from the params with their own optax optimizer. Agents build
one `DualOptimizer(weight_tx, config.arch)` and call only its methods; they never look inside
the alphas (the search space and this module own their layout). Modes (`arch.mode`):
- `joint` (the paper): one gradient of the same RL loss on the same minibatch for both pytrees.
- `alternating` (first-order DARTS): the weights step on minibatch A, then the alphas step on a
  different minibatch B with the updated weights.
Shared by PPO, Rainbow and SAC. Gradients are averaged over devices with one axis name.
"""
from typing import Callable, Optional

import jax
import optax

from darts_rl import parallel

ARCH_UPDATES = ("joint", "alternating")

# loss_fn(params, alphas, batch) -> (scalar loss, aux dict of scalars)
LossFn = Callable


def make_optimizer(cfg) -> optax.GradientTransformation:
  """cfg: lr, eps, max_grad_norm (<= 0: no clipping)."""
  tx = optax.adam(cfg.lr, eps=cfg.eps)
  if cfg.max_grad_norm and cfg.max_grad_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), tx)
  return tx


def check_arch_update(mode: str):
  if mode not in ARCH_UPDATES:
    raise ValueError(f"unknown arch.mode '{mode}'; valid modes: {', '.join(ARCH_UPDATES)}")


def _apply(tx: optax.GradientTransformation, tree, opt_state, g, axis_name: Optional[str]):
  """Averages g over devices and takes one optimizer step: -> (tree, opt_state, g)."""
  g = parallel.pmean(g, axis_name)
  updates, opt_state = tx.update(g, opt_state, tree)
  return optax.apply_updates(tree, updates), opt_state, g


class DualOptimizer:
  """The weight optimizer (the agent's) and the architecture-weight optimizer (config.arch).

  All methods are pure functions of their arguments (safe inside jit / pmap); `key` feeds
  options that draw random numbers. With fixed encoders the alphas are `{}` and every alpha
  step is a no-op.
  """

  def __init__(self, weight_tx: optax.GradientTransformation, arch_config):
    check_arch_update(arch_config.mode)
    self.mode = arch_config.mode
    self.weight_tx = weight_tx
    self.arch_tx = make_optimizer(arch_config.optimizer)

  def init(self, params, alphas):
    """-> (weight optimizer state, arch optimizer state)."""
    return self.weight_tx.init(params), self.arch_tx.init(alphas)

  # -- one update of both pytrees
  def update(self, loss_fn: LossFn, params, alphas, opt_state, arch_opt_state, batch,
             arch_batch, axis_name: Optional[str], key=None):
    """One step of both pytrees -> (params, alphas, opt_state, arch_opt_state, aux).

    aux: the loss terms of the weight step, 'loss', 'grad_norm' and 'arch_grad_norm'.
    `arch_batch` is the alternating mode's alpha minibatch (ignored in joint mode).
    """
    loss, aux, g, ga = self.grads(loss_fn, params, alphas, batch, key)
    params, opt_state, g = _apply(self.weight_tx, params, opt_state, g, axis_name)
    if self.mode == "alternating":
      ga = self.arch_grads(loss_fn, params, alphas, arch_batch, key)
    alphas, arch_opt_state, ga = _apply(self.arch_tx, alphas, arch_opt_state, ga, axis_name)
    return params, alphas, opt_state, arch_opt_state, dict(
        aux, loss=loss, grad_norm=optax.tree.norm(g), arch_grad_norm=optax.tree.norm(ga))

  # -- the pieces of `update`, for gradient accumulation over several calls
  def grads(self, loss_fn: LossFn, params, alphas, batch, key=None):
    """-> (loss, aux, g, ga): the weight gradient and, in joint mode, the alpha gradient of the
    same loss (None in alternating mode, whose alpha gradient needs the updated weights)."""
    del key
    if self.mode == "joint":
      (loss, aux), (g, ga) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
          params, alphas, batch)
      return loss, aux, g, ga
    (loss, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(params, alphas, batch)
    return loss, aux, g, None

  def arch_grads(self, loss_fn: LossFn, params, alphas, batch, key=None):
    """The alpha gradient of the alternating mode (params already updated)."""
    del key
    return jax.grad(lambda a: loss_fn(params, a, batch)[0])(alphas)

  def apply_weights(self, params, opt_state, g, axis_name: Optional[str]):
    """-> (params, opt_state, device-averaged g)."""
    return _apply(self.weight_tx, params, opt_state, g, axis_name)

  def apply_arch(self, alphas, arch_opt_state, ga, axis_name: Optional[str]):
    """-> (alphas, arch_opt_state, device-averaged ga)."""
    return _apply(self.arch_tx, alphas, arch_opt_state, ga, axis_name)
