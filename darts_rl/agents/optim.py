"""Optimizers for weights and architecture weights, and the joint / alternating update.

The alphas are a pytree separate from the params with their own optax optimizer. Modes:
- `joint` (the paper): one gradient of the same RL loss on the same minibatch for both pytrees.
- `alternating` (first-order DARTS): the weights step on minibatch A, then the alphas step on a
  different minibatch B with the updated weights.
Shared by PPO, Rainbow and SAC.
"""
from typing import Callable, Optional

import jax
import optax

from darts_rl import parallel

ARCH_UPDATES = ("joint", "alternating")


def make_optimizer(cfg) -> optax.GradientTransformation:
  """cfg: lr, eps, max_grad_norm (<= 0: no clipping)."""
  tx = optax.adam(cfg.lr, eps=cfg.eps)
  if cfg.max_grad_norm and cfg.max_grad_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), tx)
  return tx


def check_arch_update(mode: str):
  if mode not in ARCH_UPDATES:
    raise ValueError(f"unknown arch.mode '{mode}'; valid modes: {', '.join(ARCH_UPDATES)}")


def loss_grads(loss_fn: Callable, params, alphas, batch, mode: str):
  """-> (loss, aux, g, ga): the weight gradient and, in joint mode, the alpha gradient of the
  same loss (None in alternating mode, whose alpha gradient needs the updated weights)."""
  if mode == "joint":
    (loss, aux), (g, ga) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
        params, alphas, batch)
    return loss, aux, g, ga
  (loss, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(params, alphas, batch)
  return loss, aux, g, None


def arch_grads(loss_fn: Callable, params, alphas, batch):
  """The alpha gradient of the alternating mode (params already updated)."""
  return jax.grad(lambda a: loss_fn(params, a, batch)[0])(alphas)


def apply_grads(tx: optax.GradientTransformation, tree, opt_state, g, axis_name: Optional[str]):
  """Averages g over devices and takes one optimizer step: -> (tree, opt_state, g)."""
  g = parallel.pmean(g, axis_name)
  updates, opt_state = tx.update(g, opt_state, tree)
  return optax.apply_updates(tree, updates), opt_state, g


def update_aux(aux, loss, g, ga):
  return dict(aux, loss=loss, grad_norm=optax.tree.norm(g), arch_grad_norm=optax.tree.norm(ga))


def dual_update(loss_fn: Callable, params, alphas, opt_state, arch_opt_state, batch, arch_batch,
                tx: optax.GradientTransformation, arch_tx: optax.GradientTransformation,
                mode: str, axis_name: Optional[str]):
  """One step of both pytrees. loss_fn(params, alphas, batch) -> (loss, aux dict).

  Returns (params, alphas, opt_state, arch_opt_state, aux) where aux has the loss terms of the
  weight step plus grad norms. Gradients are averaged over devices with one axis name.
  (PPO's gradient accumulation runs the same pieces over several jitted calls.)
  """
  loss, aux, g, ga = loss_grads(loss_fn, params, alphas, batch, mode)
  params, opt_state, g = apply_grads(tx, params, opt_state, g, axis_name)
  if mode == "alternating":
    ga = arch_grads(loss_fn, params, alphas, arch_batch)
  alphas, arch_opt_state, ga = apply_grads(arch_tx, alphas, arch_opt_state, ga, axis_name)
  return params, alphas, opt_state, arch_opt_state, update_aux(aux, loss, g, ga)
