"""Curvature w.r.t. the architecture weights, from Hessian-vector products (no Hessian built).

- `top_eigenvalue`: the largest eigenvalue of H, the Hessian of a loss w.r.t. the alphas, by
  Lanczos on v -> H v (RobustDARTS, Zela et al. 2020: it rises before DARTS collapses onto
  parameter-free ops). One probe costs `iterations` Hessian-vector products, each a
  forward-over-reverse pass (about the cost of 2-3 gradients of the loss; measured in
  benchmarks/RESULTS.md).
- `unrolled_arch_grad`: second-order DARTS (Liu et al. 2019, eqs. 7-8): the alpha gradient
  through one virtual weight step, the step the weight optimizer would take
  (`virtual_step`), its Hessian-vector term by central finite differences.
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


def top_eigenvalue(f: Callable, x, key, iterations: int, axis_name: Optional[str] = None):
  """The algebraically largest eigenvalue of the Hessian H of f at x (RobustDARTS's max of
  eig(H), not the largest in magnitude), by `iterations` steps of Lanczos from a random start:
  -> (eigenvalue [], unit Ritz vector like x).

  Lanczos builds an orthonormal basis V of the Krylov space {v, Hv, ..., H^(m-1) v} (fully
  reorthogonalized: the alphas are small) and the tridiagonal T = V^T H V; the largest
  eigenvalue of T approaches that of H from below, faster than power iteration, and a negative
  eigenvalue of larger magnitude does not attract it. One Hessian-vector product per step.
  A Krylov space that closes early (H v in the span of V, e.g. H = c I) ends the recurrence:
  the later rows of T are decoupled copies of T[0, 0], which cannot exceed the largest
  eigenvalue of the closed block."""
  v = _normalized(optax.tree.random_like(key, x))
  basis, alphas, betas = [v], [], []
  alive = jnp.ones((), bool)  # False once the Krylov space closed
  # Unrolled (iterations is small and static), not a fori_loop: XLA:CPU runs convolutions
  # inside a while loop many times slower than at the top level of a program.
  for j in range(iterations):
    hv = parallel.pmean(hvp(f, x, basis[j]), axis_name)
    a = optax.tree.vdot(basis[j], hv)
    alphas.append(jnp.where(alive, a, 0.0))
    if j == iterations - 1:
      break
    w = hv
    for u in basis:  # full reorthogonalization (twice is enough in floating point)
      w = optax.tree.add_scale(w, -optax.tree.vdot(u, w), u)
    for u in basis:
      w = optax.tree.add_scale(w, -optax.tree.vdot(u, w), u)
    b = optax.tree.norm(w)
    closed = b <= 1e-6 * jnp.maximum(jnp.abs(alphas[0]), 1e-30)
    alive = alive & ~closed
    betas.append(jnp.where(alive, b, 0.0))
    basis.append(optax.tree.scale(jnp.where(alive, 1.0, 0.0), _normalized(w)))
  a_vec = jnp.stack(alphas)
  n_alive = 1 + sum(jnp.asarray(b > 0, jnp.int32) for b in betas) if betas else 1
  rows = jnp.arange(iterations)
  diag = jnp.where(rows < n_alive, a_vec, a_vec[0])
  t = jnp.diag(diag)
  if betas:
    off = jnp.stack(betas)
    t = t + jnp.diag(off, 1) + jnp.diag(off, -1)
  evals, evecs = jnp.linalg.eigh(t)
  y = evecs[:, -1]
  ritz = jax.tree.map(lambda *leaves: sum(c * leaf for c, leaf in zip(y, leaves)), *basis)
  return evals[-1], _normalized(ritz)


def virtual_step(tx: optax.GradientTransformation, opt_state, params, g):
  """The step the weight optimizer would take from `params` with gradient g, on a copy of its
  state (DARTS's `_compute_unrolled_model`): -> (w' = params + U(g), u -> (dU/dg)^T u), the
  second a vector-Jacobian product of the update w.r.t. the gradient (-xi u for SGD with
  learning rate xi; for Adam a per-parameter scale that depends on its moments)."""
  update, vjp = jax.vjp(lambda grad: tx.update(grad, opt_state, params)[0], g)
  # Adam's sqrt(v) has no derivative where v is 0 (a parameter whose gradient has been exactly
  # 0 so far: inf x 0 = nan); such entries get 0, as their step does not move.
  finite = lambda t: jax.tree.map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), t)
  return optax.apply_updates(params, update), lambda u: finite(vjp(u)[0])


def unrolled_arch_grad(
  loss_train: Callable,
  loss_val: Callable,
  params,
  alphas,
  g,
  tx: optax.GradientTransformation,
  opt_state,
  axis_name: Optional[str] = None,
):
  """Second-order DARTS's alpha gradient of L_val(w', a) with w' = w + U(g) the weight
  optimizer's step (`virtual_step`), g = grad_w L_train(w, a) (device-averaged):

      grad_a L_val(w', a) + (grad_a L_train(w + eps u, a) - grad_a L_train(w - eps u, a)) / (2 eps),
      u = (dU/dg)^T grad_w' L_val(w', a),  eps = 0.01 / ||u||

  loss_*(params, alphas) -> scalar. The difference is DARTS's approximation of
  (d g / d a)^T u, the term through the virtual step; it is exact when L_train is quadratic in
  the weights. For SGD (U = -xi g) it is DARTS's eq. 8 as written. The result is this
  device's; average it like any alpha gradient.
  """
  w_virtual, step_vjp = virtual_step(tx, opt_state, params, g)
  gw, ga = jax.grad(loss_val, argnums=(0, 1))(w_virtual, alphas)
  u = step_vjp(parallel.pmean(gw, axis_name))
  eps = 0.01 / jnp.maximum(optax.tree.norm(u), 1e-30)
  grad_a = jax.grad(loss_train, argnums=1)
  ga_plus = grad_a(optax.tree.add_scale(params, eps, u), alphas)
  ga_minus = grad_a(optax.tree.add_scale(params, -eps, u), alphas)
  return jax.tree.map(lambda a, p, m: a + (p - m) / (2 * eps), ga, ga_plus, ga_minus)
