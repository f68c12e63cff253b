"""Robustness options' math by hand: schedules, Beta-Decay's gradient, the smoothing noise, the
early-stopping rule, the Hessian's dominant eigenvalue and second-order DARTS's gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl.search import hessian, robustness
from darts_rl.search.robustness import SearchOptions


def test_schedule_values_hand_computed():
  lin = SearchOptions(temperature_schedule="linear", temperature_end=0.5, aux_skip=1.0)
  start = lin.schedule_start(2.0)
  assert set(start) == {"temperature", "aux_skip"}
  for p, t, b in ((0.0, 2.0, 1.0), (0.5, 1.25, 0.5), (0.75, 0.875, 0.25), (1.0, 0.5, 0.0)):
    v = lin.schedule(start, p)
    np.testing.assert_allclose([v["temperature"], v["aux_skip"]], [t, b], rtol=1e-6, atol=1e-7)
  exp = SearchOptions(temperature_schedule="exponential", temperature_end=0.5)
  start = exp.schedule_start(2.0)
  assert set(start) == {"temperature"}
  # T0 (T1 / T0)^p: 2 * 0.25^0.5 = 1, 2 * 0.25^0.25 = sqrt 2.
  for p, t in ((0.0, 2.0), (0.25, np.sqrt(2.0)), (0.5, 1.0), (1.0, 0.5)):
    np.testing.assert_allclose(exp.schedule(start, p)["temperature"], t, rtol=1e-6)
  assert SearchOptions().schedule_start(1.0) == {} and not SearchOptions().scheduled
  assert SearchOptions(beta_decay=2.0).beta_decay_weight(0.25) == 0.5


def test_beta_decay_loss_and_gradient_hand_computed():
  ln = np.log
  alphas = {
    "normal": (jnp.array([[0.0, ln(2), ln(5)]]), jnp.array([[0.0, 0.0, 0.0], [ln(3), 0.0, 0.0]])),
    "edges": {"normal": (jnp.zeros(1), jnp.array([0.3, -0.2]))},
  }
  # Rows' logsumexp: ln 8, ln 3, ln 5; the loss is their mean.
  np.testing.assert_allclose(robustness.beta_decay_loss(alphas), ln(120) / 3, rtol=1e-6)
  g = jax.grad(robustness.beta_decay_loss)(alphas)
  # d/d alpha_row = softmax(row) / 3 (three rows).
  np.testing.assert_allclose(g["normal"][0], [[1 / 24, 2 / 24, 5 / 24]], rtol=1e-5)
  np.testing.assert_allclose(g["normal"][1], [[1 / 9] * 3, [3 / 15, 1 / 15, 1 / 15]], rtol=1e-5)
  # Edge logits are no op alphas: not regularized.
  assert all(not np.any(e) for e in jax.tree.leaves(g["edges"]))


def test_smoothing_noise_is_uniform_in_minus_eps_eps():
  eps, n = 0.1, 200_000
  tree = {"a": jnp.zeros((n,)), "b": (jnp.ones((2, 3)),)}
  out = robustness.smooth(tree, jax.random.PRNGKey(0), eps)
  x = np.asarray(out["a"], np.float64)
  assert x.min() >= -eps and x.max() <= eps
  # U[-eps, eps]: mean 0 (standard error eps / sqrt(3 n)), variance eps^2 / 3, flat histogram.
  assert abs(x.mean()) < 4 * eps / np.sqrt(3 * n)
  np.testing.assert_allclose(x.var(), eps**2 / 3, rtol=0.02)
  counts, _ = np.histogram(x, bins=10, range=(-eps, eps))
  np.testing.assert_allclose(counts, n / 10, rtol=0.05)
  # Every leaf gets noise around its own value; the same key gives the same noise.
  b = np.asarray(out["b"][0])
  assert np.all(np.abs(b - 1) <= eps) and len(np.unique(b)) == 6
  again = robustness.smooth(tree, jax.random.PRNGKey(0), eps)
  np.testing.assert_array_equal(again["a"], out["a"])
  other = robustness.smooth(tree, jax.random.PRNGKey(1), eps)
  assert not np.allclose(other["a"], out["a"])


def _first_stop(trace_values, window, ratio=0.75):
  """Feeds probes one by one; -> the 1-based probe at which the rule first fires, or None."""
  trace = jnp.zeros((2 * window,))
  for n, lam in enumerate(trace_values, start=1):
    trace = robustness.push(trace, lam)
    if bool(robustness.should_stop(trace, n, ratio)):
      return n
  return None


def test_early_stopping_rule_on_synthetic_eigenvalue_traces():
  flat = [1.0] * 10
  # Probe 11 (2.0): last five mean 1.2, the five before 1.0: 1 / 1.2 = 0.83 >= 0.75, go on.
  # Probe 12 (2.0): last five mean 1.4: 1 / 1.4 = 0.71 < 0.75, stop.
  assert _first_stop(flat + [2.0, 2.0, 2.0], window=5) == 12
  # A window of 2: probes [1, 1, 1, 1.2] -> 1 / 1.1 = 0.91; then [1, 1, 1.2, 1.5] -> 1 / 1.35
  # = 0.74 < 0.75 at probe 5.
  assert _first_stop([1.0, 1.0, 1.0, 1.2, 1.5, 3.0], window=2) == 5
  # Falling, flat or negative eigenvalues never stop; a rise before 2w probes does not either.
  assert _first_stop([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1], window=2) is None
  assert _first_stop([1.0] * 20, window=5) is None
  assert _first_stop([-1.0, -1.0, -4.0, -8.0, -16.0], window=2) is None
  assert _first_stop([0.0, 0.0, 0.0, 10.0], window=3) is None


def _quadratic(eigenvalues, seed=0):
  """f(x) = x.A x / 2 on a pytree of two leaves, A = Q diag(eigenvalues) Q^T."""
  n = len(eigenvalues)
  q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
  a = jnp.asarray(q @ np.diag(eigenvalues) @ q.T, jnp.float32)
  flat = lambda x: jnp.concatenate([x["u"], x["v"].reshape(-1)])
  f = lambda x: 0.5 * flat(x) @ a @ flat(x)
  x0 = {"u": jnp.ones((2,)), "v": jnp.ones((1, n - 2))}
  return f, x0, q


@pytest.mark.parametrize(
  "eigenvalues,dominant",
  [
    ([5.0, -2.0, 1.0, 0.5, 0.1], 5.0),
    ([-6.0, 2.0, 1.0, 0.0], -6.0),  # the largest magnitude, sign included
  ],
)
def test_dominant_eigenvalue_of_a_known_hessian(eigenvalues, dominant):
  f, x0, q = _quadratic(eigenvalues)
  lam, v = jax.jit(lambda x, k: hessian.dominant_eigenvalue(f, x, k, 40))(x0, jax.random.PRNGKey(3))
  np.testing.assert_allclose(lam, dominant, rtol=1e-4)
  flat_v = np.concatenate([v["u"], np.asarray(v["v"]).reshape(-1)])
  assert abs(abs(flat_v @ q[:, 0]) - 1.0) < 1e-3  # the eigenvector of the dominant eigenvalue
  # A non-quadratic loss: f = sum(x^4) / 12 has Hessian diag(x^2); at (1, 2, 3) the top is 9.
  lam, _ = hessian.dominant_eigenvalue(
    lambda x: jnp.sum(x**4) / 12, jnp.array([1.0, 2.0, 3.0]), jax.random.PRNGKey(0), 40
  )
  np.testing.assert_allclose(lam, 9.0, rtol=1e-4)


def test_unrolled_arch_grad_matches_the_analytic_gradient_on_a_quadratic():
  """L_train = w.P w / 2 + w.B a + a.C a / 2 + c.w, L_val = |w - t|^2 / 2 + d.a + w.E a. With
  w' = w - xi grad_w L_train(w, a) = w - xi (P w + B a + c), the gradient of L_val(w'(a), a) is
  d + E^T w' - xi B^T (w' - t + E a): DARTS's finite difference is exact here."""
  rng = np.random.default_rng(0)
  m = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  P, B, C, E = m(3, 3), m(3, 2), m(2, 2), m(3, 2)
  P, C = P @ P.T, C @ C.T
  c, t, d = m(3), m(3), m(2)
  xi = 0.1
  l_train = lambda p, a: (
    0.5 * p["w"] @ P @ p["w"] + p["w"] @ B @ a["x"] + 0.5 * a["x"] @ C @ a["x"] + c @ p["w"]
  )
  l_val = lambda p, a: 0.5 * jnp.sum((p["w"] - t) ** 2) + d @ a["x"] + p["w"] @ E @ a["x"]
  params, alphas = {"w": m(3)}, {"x": m(2)}
  g = jax.grad(l_train)(params, alphas)
  got = hessian.unrolled_arch_grad(l_train, l_val, params, alphas, g, xi)["x"]
  w, a = params["w"], alphas["x"]
  w1 = w - xi * (P @ w + B @ a + c)
  want = d + E.T @ w1 - xi * B.T @ (w1 - t + E @ a)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # The same as differentiating through the virtual step with autodiff.
  exact = jax.grad(lambda a: l_val({"w": w - xi * jax.grad(l_train)(params, a)["w"]}, a))(alphas)
  np.testing.assert_allclose(got, exact["x"], rtol=1e-4, atol=1e-5)
  # xi = 0 is first-order DARTS: the validation gradient at w.
  g0 = hessian.unrolled_arch_grad(l_train, l_val, params, alphas, g, 0.0)["x"]
  np.testing.assert_allclose(g0, d + E.T @ w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  "kwargs,message",
  [
    (dict(temperature_schedule="cosine"), "valid schedules: constant, linear, exponential"),
    (dict(edge_weights="softmax"), "valid values: uniform, learned"),
    (dict(temperature_end=0.0), "temperature_end must be > 0"),
    (dict(smoothing_eps=-0.1), "smoothing_eps must be >= 0"),
    (dict(early_stop=True), "needs the eigenvalue monitor"),
    (dict(early_stop_ratio=1.5), "early_stop_ratio must be in \\(0, 1\\)"),
  ],
)
def test_bad_options_name_the_valid_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    SearchOptions(**kwargs)
