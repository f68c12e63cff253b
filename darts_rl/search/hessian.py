"""Curvature w.r.t. the architecture weights, from Hessian-vector products (no Hessian built).

- `dominant_eigenvalue`: power iteration on v -> H v, H the Hessian of a loss w.r.t. the alphas
  (RobustDARTS, Zela et al. 2020: it rises before DARTS collapses onto parameter-free ops).
  One probe costs `iterations` Hessian-vector products, each a forward-over-reverse pass (about
  the cost of 2-3 gradients of the loss; measured in benchmarks/RESULTS.md).
- `unrolled_arch_grad`: second-order DARTS (Liu et al. 2019, eqs. 7-8): the alpha gradient
  through one virtual weight step, its Hessian-vector term by central finite differences.
Pytrees throughout; in a mapped step (`axis_name`) the products are averaged over devices, so
every device holds the same eigenvalue / direction.
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from darts_rl import parallel


def hvp(f: Callable, x, v):
  """H(x) v for scalar f and pytrees x, v of the same structure (forward over reverse)."""
  return jax.jvp(jax.grad(f), (x,), (v,))[1]


def _normalized(v):
  return optax.tree.scale(1.0 / jnp.maximum(optax.tree.norm(v), 1e-30), v)


def dominant_eigenvalue(f: Callable, x, key, iterations: int, axis_name: Optional[str] = None):
  """The eigenvalue of largest magnitude of the Hessian of f at x, by `iterations` steps of
  power iteration from a random start: -> (eigenvalue [], unit eigenvector like x).

  The estimate is the Rayleigh quotient v.Hv of the last normalized iterate; for a PSD Hessian
  it approaches the largest eigenvalue from below."""
  v, lam = _normalized(optax.tree.random_like(key, x)), jnp.zeros((), jnp.float32)
  # Unrolled (iterations is small and static), not a fori_loop: XLA:CPU runs convolutions
  # inside a while loop many times slower than at the top level of a program.
  for _ in range(iterations):
    hv = parallel.pmean(hvp(f, x, v), axis_name)
    v, lam = _normalized(hv), optax.tree.vdot(v, hv)
  return lam, v


def unrolled_arch_grad(
  loss_train: Callable,
  loss_val: Callable,
  params,
  alphas,
  g,
  xi: float,
  axis_name: Optional[str] = None,
):
  """Second-order DARTS's alpha gradient of L_val(w', a) with w' = w - xi g:

      grad_a L_val(w', a) - xi (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps),
      w+- = w +- eps grad_w' L_val(w', a),  eps = 0.01 / ||grad_w' L_val(w', a)||

  loss_*(params, alphas) -> scalar; g = grad_w L_train(w, a) (device-averaged). The difference
  is DARTS's approximation of xi grad2_{a,w} L_train(w, a) grad_w' L_val(w', a); it is exact
  when L_train is quadratic. The result is this device's; average it like any alpha gradient.
  """
  w_virtual = optax.tree.add_scale(params, -xi, g)
  gw, ga = jax.grad(loss_val, argnums=(0, 1))(w_virtual, alphas)
  gw = parallel.pmean(gw, axis_name)
  eps = 0.01 / jnp.maximum(optax.tree.norm(gw), 1e-30)
  grad_a = jax.grad(loss_train, argnums=1)
  ga_plus = grad_a(optax.tree.add_scale(params, eps, gw), alphas)
  ga_minus = grad_a(optax.tree.add_scale(params, -eps, gw), alphas)
  return jax.tree.map(lambda a, p, m: a - xi * (p - m) / (2 * eps), ga, ga_plus, ga_minus)
