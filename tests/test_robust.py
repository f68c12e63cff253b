"""Robustness options' math by hand: schedules, Beta-Decay's gradient, the smoothing noise, the
early-stopping rule, the Hessian's dominant eigenvalue and second-order DARTS's gradient."""

import json
import os
import pathlib
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from darts_rl import artifacts
from darts_rl.agents.base import arch_updates
from darts_rl.config import adam_config, arch_config, encoder_config
from darts_rl.networks import make_encoder
from darts_rl.search import cells, hessian, monitor, robustness
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


def _smooth_numpy(w, noise):
  """SmoothDARTS's `Random_alpha` + `clip` in numpy: w + noise, clamp to [0, 1], an all-zero row
  set to 1 at its largest noisy entry, each row divided by its sum."""
  noisy = w + noise
  out = np.clip(noisy, 0.0, 1.0)
  for row, n in zip(out.reshape(-1, w.shape[-1]), noisy.reshape(-1, w.shape[-1])):
    if row.sum() == 0:
      row[np.argmax(n)] = 1.0
  return out / out.sum(-1, keepdims=True)


def test_smoothing_perturbs_the_mixing_weights_as_sdarts_does():
  rng = np.random.default_rng(0)
  w = rng.dirichlet(np.ones(5), size=(200, 3)).astype(np.float32)  # [200, 3, 5] mixing weights
  key = jax.random.PRNGKey(0)
  for eps in (0.03, 0.3, 1.0):
    got = np.asarray(robustness.smooth_weights(jnp.asarray(w), key, eps))
    noise = np.asarray(jax.random.uniform(key, w.shape, jnp.float32, -eps, eps))
    assert np.abs(noise).max() <= eps and np.abs(noise).min() < eps / 10
    np.testing.assert_allclose(got, _smooth_numpy(w, noise), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)
    assert got.min() >= 0.0
  # eps = 1 on [0.5, 0.5]: both noisy weights <= 0 in 1/16 of the rows (each with chance 1/4),
  # which become one-hot at the larger noisy weight.
  half = jnp.full((4000, 2), 0.5)
  out = np.asarray(robustness.smooth_weights(half, key, 1.0))
  noisy = 0.5 + np.asarray(jax.random.uniform(key, half.shape, jnp.float32, -1.0, 1.0))
  dead = (noisy <= 0).all(-1)
  assert 0.05 < dead.mean() < 0.075
  np.testing.assert_array_equal(out[dead], np.eye(2)[np.argmax(noisy[dead], -1)])
  # The size of the perturbation at 5 ops from uniform weights: the 0.013 and 0.131
  # mean |change| at the ramp's ends, against the numpy reference with numpy's own noise.
  uniform = np.full((20000, 5), 0.2, np.float32)
  for eps, want in ((0.03, 0.013), (0.3, 0.131)):
    change = np.abs(np.asarray(robustness.smooth_weights(jnp.asarray(uniform), key, eps)) - 0.2)
    ref = np.abs(_smooth_numpy(uniform, rng.uniform(-eps, eps, uniform.shape)) - 0.2)
    np.testing.assert_allclose(change.mean(), ref.mean(), rtol=0.02)
    np.testing.assert_allclose(change.mean(), want, rtol=0.03)


def test_smooth_returns_logits_whose_softmax_is_the_perturbed_weights():
  t = 2.0
  alphas = {
    "normal": (jnp.array([[0.0, 1.0, -1.0]]), jnp.array([[0.5, 0.0, 0.0], [2.0, -3.0, 0.0]])),
    "edges": {"normal": (jnp.zeros(1), jnp.array([0.3, -0.2]))},
  }
  key = jax.random.PRNGKey(4)
  out = robustness.smooth(alphas, key, 0.3, t)
  keys = jax.random.split(key, 2)
  for a, b, k in zip(alphas["normal"], out["normal"], keys):
    want = robustness.smooth_weights(jax.nn.softmax(a / t, -1), k, 0.3)
    np.testing.assert_allclose(jax.nn.softmax(b / t, -1), want, rtol=1e-5, atol=1e-7)
  assert out["edges"] is alphas["edges"]  # edge logits are not op weights
  # The ramp: 0.03 + (eps - 0.03) p.
  o = SearchOptions(smoothing_eps=0.3)
  np.testing.assert_allclose([o.smoothing_eps_at(p) for p in (0, 0.5, 1)], [0.03, 0.165, 0.3])
  assert o.scheduled


def test_drop_path_drops_whole_samples_and_rescales_the_rest():
  y = jnp.broadcast_to(jnp.arange(12.0).reshape(1, 2, 2, 3), (20000, 2, 2, 3))
  key = jax.random.PRNGKey(0)
  out = np.asarray(cells.drop_path(y, key, 0.3))
  dropped = (out == 0).all(axis=(1, 2, 3))
  np.testing.assert_allclose(out[~dropped], np.asarray(y[~dropped]) / 0.7, rtol=1e-6)
  assert abs(dropped.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20000)
  np.testing.assert_allclose(out.mean(0), np.asarray(y[0]), rtol=0.03)  # unbiased
  np.testing.assert_array_equal(cells.drop_path(y, key, 0.0), y)
  # RobustDARTS's schedule: drop_path_prob x epoch / (epochs - 1), here x the search's progress.
  o = SearchOptions(drop_path=0.2)
  np.testing.assert_allclose([o.drop_path_at(p) for p in (0, 0.5, 1)], [0.0, 0.1, 0.2])
  assert o.scheduled


def test_search_cells_drop_edges_only_when_the_alphas_carry_a_drop_key():
  arch = arch_config(adam_config(0.01))
  arch.drop_path = 0.2
  enc = make_encoder(
    encoder_config(kind="supernet", channels=(4,), cells_per_stage=2, num_nodes=2, feature_dim=8),
    arch=arch,
  )
  assert set(enc.alphas) == {"normal"}  # nothing stored: the entries are the weight step's
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), np.uint8))
  params = enc.module.init(jax.random.PRNGKey(0), obs, enc.alphas)
  apply = jax.jit(enc.module.apply)
  plain = np.asarray(apply(params, obs, enc.alphas))
  with_drop = lambda prob, k: dict(
    enc.alphas, schedule={"drop_path": jnp.float32(prob), "drop_key": jax.random.PRNGKey(k)}
  )
  np.testing.assert_allclose(apply(params, obs, with_drop(0.0, 1)), plain, rtol=1e-5, atol=1e-6)
  # Almost never dropped, kept edges scaled by 1 / (1 - 1e-6): the plain output.
  np.testing.assert_allclose(apply(params, obs, with_drop(1e-6, 1)), plain, rtol=1e-4, atol=1e-5)
  half = np.asarray(apply(params, obs, with_drop(0.5, 1)))
  assert not np.isclose(half, plain, rtol=1e-4, atol=1e-5).all(-1).any()
  np.testing.assert_array_equal(apply(params, obs, with_drop(0.5, 1)), half)
  assert not np.allclose(apply(params, obs, with_drop(0.5, 2)), half)


def _first_stop(values, window, lag, ratio=0.75, every=1, warmup_updates=0):
  """Feeds probes (taken every `every` arch updates from update 0) one by one, as the monitor
  does; -> (1-based probe at which the rule first fires, 1-based rollback probe) or None."""
  trace = jnp.zeros((window + lag,))
  back = monitor.rollback_offset(window, lag)
  for n, lam in enumerate(values, start=1):
    trace = monitor.push(trace, lam)
    warm = (n - 1 - back) * every >= warmup_updates
    if warm and bool(monitor.should_stop(trace, n, ratio, window, lag)):
      return n, n - back
  return None


def test_early_stopping_rule_on_synthetic_eigenvalue_traces():
  flat = [1.0] * 10
  # Window 5, lag 4. Probe 11 (2.0): la(11) = mean(p7..p11) = 1.2, la(7) = 1: 1 / 1.2 = 0.83,
  # go on. Probe 12: la(12) = 1.4: 1 / 1.4 = 0.71 < 0.75, stop; the rollback point is the centre
  # of the window p4..p8: probe 12 - 4 - 2 = 6.
  assert _first_stop(flat + [2.0, 2.0, 2.0], window=5, lag=4) == (12, 6)
  # The warm-up: no rollback point before update 7 (probe 8 at one probe per update).
  assert _first_stop(flat + [2.0] * 4, window=5, lag=4, warmup_updates=7) == (14, 8)
  # Window 2, lag 1: [1, 1, 1.2] -> la 1 vs 1.1 (0.91); [1, 1.2, 1.5] -> 1.1 / 1.35 = 0.81;
  # [1.2, 1.5, 3] -> 1.35 / 2.25 = 0.6 at probe 6 (from [1, 1, 1, 1.2, 1.5, 3]), rollback 6 - 2.
  assert _first_stop([1.0, 1.0, 1.0, 1.2, 1.5, 3.0], window=2, lag=1) == (6, 4)
  # Falling, flat or negative eigenvalues never stop; a rise before window + lag probes does not.
  assert _first_stop([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1], window=2, lag=2) is None
  assert _first_stop([1.0] * 20, window=5, lag=4) is None
  assert _first_stop([-1.0, -1.0, -4.0, -8.0, -16.0], window=2, lag=2) is None
  assert _first_stop([1.0, 1.0, 10.0], window=3, lag=3) is None
  # The example: a negative baseline is no rise (the old rule stopped here).
  assert _first_stop([-1.0, -1.0, -1.0, 0.2, 0.2, 0.2], window=3, lag=3) is None
  # A baseline near zero: mean 0.0067 under its standard error 0.0252 / sqrt 3 = 0.0145: no
  # rise. The same jump from a baseline clearly above zero (0.25 > 0.05 / sqrt 3) stops.
  assert _first_stop([0.01, -0.02, 0.03, 0.5, 0.5, 0.5], window=3, lag=3) is None
  assert _first_stop([0.3, 0.2, 0.25, 0.5, 0.5, 0.5], window=3, lag=3) == (6, 2)
  with pytest.raises(ValueError, match="needs 9"):
    monitor.should_stop(jnp.zeros(10), 10, 0.75, 5, 4)


RESULTS = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "results"


def _logged_probes(workdir):
  """-> (the eigenvalue of each probe, the old rule's stop flag at each probe, config)."""
  values, stopped = [], []
  for row in artifacts.read_metrics(str(workdir)):
    if "arch/probes" in row and int(row["arch/probes"]) > len(values):
      values.append(row["arch/eigenvalue"])
      stopped.append(row.get("arch/stopped"))
  return values, stopped, json.loads((workdir / "config.json").read_text())


def _arch_updates(cfg):
  """The run's arch updates, as the agents count them (agents.base.arch_updates)."""
  config = ml_collections.ConfigDict(cfg)
  if cfg["env"]["kind"] == "procgen":
    p = cfg["ppo"]
    per_iteration = cfg["env"]["num_envs"] * p["num_steps"]
    return arch_updates(config, per_iteration, p["num_epochs"] * p["num_minibatches"])
  return arch_updates(config, cfg["env"]["num_envs"], 1, cfg["sac"]["learning_starts"])


@pytest.mark.parametrize(
  "run,stop",
  [
    # PPO starpilot: 144 arch updates, a probe every 16; la(p5..p9) = 0.927 against
    # la(p1..p5) = 0.551 (0.59), rollback probe 3 (update 32 >= 0.2 x 144).
    ("robust_ppo_starpilot_cpu/search_robust/seed_0", (9, 3)),
    ("robust_ppo_starpilot_cpu/search_robust/seed_1", (9, 3)),
    # SAC cartpole: 5,500 arch updates, a probe every 250; seed 0 at probe 12: la(p8..p12) =
    # 2.719 against la(p4..p8) = 1.112 (0.41), rollback probe 6 (update 1,250 >= 1,100).
    ("robust_sac_cartpole_cpu/search_robust/seed_0", (12, 6)),
    ("robust_sac_cartpole_cpu/search_robust/seed_1", (15, 9)),
  ],
)
def test_the_new_rule_on_the_logged_probes_of_the_earlier_robust_runs(run, stop):
  """These runs (window 3, no warm-up) stopped at probe 6, the first their rule allowed. Under
  RobustDARTS's rule with its defaults none stops there: the warm-up and the window + lag
  probes put the first check at probe 9 (PPO) or 12 (SAC)."""
  values, stopped, cfg = _logged_probes(RESULTS / run)
  assert stopped[4] == 0.0 and stopped[5] == 1.0  # the old rule fired at probe 6
  o = SearchOptions()
  every = cfg["arch"]["eigen_every_updates"]
  warmup = o.early_stop_warmup * _arch_updates(cfg)
  got = _first_stop(
    values, o.early_stop_window, o.early_stop_lag, o.early_stop_ratio, every, warmup
  )
  assert got == stop and got[0] > 6


def test_sacs_rise_to_6_46_stops_it():
  """The SAC robust seed 0 trace rises to 6.462 at probe 13: la(p9..p13) = 3.635 against
  la(p5..p9) = 2.077 (0.57 < 0.75): the rule fires there, rolling back to probe 7; so does
  the default SAC search's rise to 6.461 at probe 21 (3.990 against 1.731), rolling back to
  probe 15."""
  o = SearchOptions()
  w, lag = o.early_stop_window, o.early_stop_lag
  for run, probe in (
    ("robust_sac_cartpole_cpu/search_robust/seed_0", 13),
    ("robust_sac_cartpole_cpu/search/seed_0", 21),
  ):
    values = _logged_probes(RESULTS / run)[0]
    np.testing.assert_allclose(values[probe - 1], 6.46, atol=0.005)
    trace = jnp.asarray(values[probe - w - lag : probe])
    assert bool(monitor.should_stop(trace, probe, o.early_stop_ratio, w, lag))


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
  "eigenvalues",
  [
    [5.0, -2.0, 1.0, 0.5, 0.1],
    [-6.0, 2.0, 1.0, 0.0],  # the largest magnitude is negative: the top is still 2
    [-1.0, -3.0, -0.5, -7.0],  # all negative: the top is -0.5
  ],
)
def test_top_eigenvalue_is_the_algebraically_largest(eigenvalues):
  f, x0, q = _quadratic(eigenvalues)
  top = np.linalg.eigvalsh(q @ np.diag(eigenvalues) @ q.T)[-1]
  lam, v = jax.jit(lambda x, k: hessian.top_eigenvalue(f, x, k, len(eigenvalues)))(
    x0, jax.random.PRNGKey(3)
  )
  np.testing.assert_allclose(lam, top, rtol=1e-4, atol=1e-5)
  flat_v = np.concatenate([v["u"], np.asarray(v["v"]).reshape(-1)])
  i = int(np.argmax(eigenvalues))
  assert abs(abs(flat_v @ q[:, i]) - 1.0) < 1e-3  # the eigenvector of the top eigenvalue


def _top_eigenvalue(f, x, key, iterations):
  """hessian.top_eigenvalue as one program (eagerly, every step compiles its own ops)."""
  return jax.jit(hessian.top_eigenvalue, static_argnums=(0, 3))(f, x, key, iterations)


def test_top_eigenvalue_of_diag_1_minus_3_and_of_random_symmetric_matrices():
  # diag(1, -3): power iteration converges to -3; the monitor wants 1.
  f = lambda x: 0.5 * (x[0] ** 2 - 3 * x[1] ** 2)
  lam, _ = _top_eigenvalue(f, jnp.zeros(2), jax.random.PRNGKey(0), 2)
  np.testing.assert_allclose(lam, 1.0, rtol=1e-5)
  # -3 I: the Krylov space closes after one step; the later rows must not add an eigenvalue 0.
  lam, _ = _top_eigenvalue(lambda x: -1.5 * jnp.sum(x**2), jnp.zeros(4), jax.random.PRNGKey(0), 4)
  np.testing.assert_allclose(lam, -3.0, rtol=1e-5)
  rng = np.random.default_rng(1)
  for n, iters in ((6, 6), (40, 25)):
    m = rng.normal(size=(n, n))
    a = jnp.asarray((m + m.T) / 2, jnp.float32)
    lam, _ = _top_eigenvalue(lambda x: 0.5 * x @ a @ x, jnp.zeros(n), jax.random.PRNGKey(2), iters)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(np.asarray(a, np.float64))[-1], rtol=1e-3)
  # A non-quadratic loss: f = sum(x^4) / 12 has Hessian diag(x^2); at (1, -2, 3) the top is 9.
  lam, _ = _top_eigenvalue(
    lambda x: jnp.sum(x**4) / 12, jnp.array([1.0, -2.0, 3.0]), jax.random.PRNGKey(0), 3
  )
  np.testing.assert_allclose(lam, 9.0, rtol=1e-4)


def _quadratic_pair():
  """L_train = w.P w / 2 + w.B a + a.C a / 2 + c.w, L_val = |w - t|^2 / 2 + d.a + w.E a."""
  rng = np.random.default_rng(0)
  m = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  P, B, C, E = m(3, 3), m(3, 2), m(2, 2), m(3, 2)
  P, C = P @ P.T, C @ C.T
  c, t, d = m(3), m(3), m(2)
  l_train = lambda p, a: (
    0.5 * p["w"] @ P @ p["w"] + p["w"] @ B @ a["x"] + 0.5 * a["x"] @ C @ a["x"] + c @ p["w"]
  )
  l_val = lambda p, a: 0.5 * jnp.sum((p["w"] - t) ** 2) + d @ a["x"] + p["w"] @ E @ a["x"]
  return l_train, l_val, (P, B, c, t, d, E), {"w": m(3)}, {"x": m(2)}


def test_unrolled_arch_grad_with_sgd_is_darts_eq_8():
  """With SGD (lr xi) the virtual step is w' = w - xi (P w + B a + c) and the gradient of
  L_val(w'(a), a) is d + E^T w' - xi B^T (w' - t + E a): DARTS's finite difference is exact."""
  l_train, l_val, (P, B, c, t, d, E), params, alphas = _quadratic_pair()
  xi = 0.1
  tx = optax.sgd(xi)
  g = jax.grad(l_train)(params, alphas)
  got = hessian.unrolled_arch_grad(l_train, l_val, params, alphas, g, tx, tx.init(params))["x"]
  w, a = params["w"], alphas["x"]
  w1 = w - xi * (P @ w + B @ a + c)
  want = d + E.T @ w1 - xi * B.T @ (w1 - t + E @ a)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_unrolled_arch_grad_goes_through_the_weight_optimizers_own_step():
  """Adam with moments from three earlier steps: the virtual step is Adam's update by hand, and
  the arch gradient equals autodiff through optax's update of a copy of the state."""
  l_train, l_val, _, params, alphas = _quadratic_pair()
  lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
  tx = optax.adam(lr, b1, b2, eps)
  state, w = tx.init(params), params
  rng = np.random.default_rng(5)
  for _ in range(3):
    u, state = tx.update({"w": jnp.asarray(rng.normal(size=3), jnp.float32)}, state, w)
    w = optax.apply_updates(w, u)
  g = jax.grad(l_train)(w, alphas)
  w1, vjp = hessian.virtual_step(tx, state, w, g)
  mu, nu = state[0].mu["w"], state[0].nu["w"]
  m = b1 * mu + (1 - b1) * g["w"]
  v = b2 * nu + (1 - b2) * g["w"] ** 2
  step = -lr * (m / (1 - b1**4)) / (np.sqrt(v / (1 - b2**4)) + eps)
  np.testing.assert_allclose(w1["w"], w["w"] + step, rtol=1e-5, atol=1e-7)
  assert not np.allclose(w1["w"], w["w"] - lr * g["w"], atol=1e-4)  # not w - xi g
  got = hessian.unrolled_arch_grad(l_train, l_val, w, alphas, g, tx, state)["x"]

  def through_adam(a):
    grad = jax.grad(l_train)(w, a)
    return l_val(optax.apply_updates(w, tx.update(grad, state, w)[0]), a)

  exact = jax.grad(through_adam)(alphas)["x"]
  np.testing.assert_allclose(got, exact, rtol=1e-3, atol=1e-5)
  # The state was copied, not advanced.
  assert int(state[0].count) == 3
  # A fresh Adam and a gradient entry of exactly 0: sqrt(v) at v = 0 has no derivative; that
  # entry of the product is 0 rather than nan (its step is 0 too).
  fresh = optax.adam(lr)
  zero = {"w": jnp.array([0.0, 1.0, -2.0])}
  w1, vjp = hessian.virtual_step(fresh, fresh.init(params), params, zero)
  np.testing.assert_allclose(w1["w"] - params["w"], [0.0, -lr, lr], rtol=1e-5, atol=1e-9)
  u = np.asarray(vjp({"w": jnp.ones(3)})["w"])
  assert np.all(np.isfinite(u)) and u[0] == 0.0


@pytest.mark.parametrize(
  "kwargs,message",
  [
    (dict(temperature_schedule="cosine"), "valid schedules: constant, linear, exponential"),
    (dict(edge_weights="softmax"), "valid values: uniform, learned"),
    (dict(temperature_end=0.0), "temperature_end must be > 0"),
    (dict(smoothing_eps=-0.1), "smoothing_eps must be >= 0"),
    (dict(early_stop=True), "needs the eigenvalue monitor"),
    (dict(early_stop_ratio=1.5), "early_stop_ratio must be in \\(0, 1\\)"),
    (dict(early_stop_lag=0), "early_stop_lag must be >= 1"),
    (dict(drop_path=1.0), "drop_path must be in \\[0, 1\\)"),
    (dict(early_stop_warmup=1.0), "early_stop_warmup must be in \\[0, 1\\)"),
    (dict(adaptive_l2=3e-4), "needs its trigger: set arch.early_stop=True"),
    (
      dict(eigen_every_updates=1, early_stop=True, adaptive_l2=3e-4, adaptive_l2_max=1e-2),
      "must be arch.adaptive_l2 x arch.adaptive_l2_factor\\^k",
    ),
    (
      dict(eigen_every_updates=1, early_stop=True, adaptive_l2=3e-4, adaptive_l2_factor=1.0),
      "adaptive_l2_factor must be > 1",
    ),
  ],
)
def test_bad_options_name_the_valid_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    SearchOptions(**kwargs)


def test_the_ablation_study_runs_one_search_per_option_and_reports_them(tmp_path, monkeypatch):
  """experiments/studies/robust_ablation.py with a stand-in for training (tests/fake_training.py:
  made-up returns and monitor rows): one search per arm and seed, each arm's config turning on
  exactly its option, and a report whose collapse section names those options, tabulates every
  search's monitor and compares each arm with the default only."""
  from darts_rl.analysis import statistics
  from darts_rl.analysis.studies import write_report
  from darts_rl.studies import runner
  from darts_rl.sweep import LocalPool
  from experiments.studies import robust_ablation

  # 8 arms' intervals and profile bands at their full bootstrap resamples take most of the
  # test's time; the values of the intervals are not what it checks.
  for name in ("interval_estimates", "performance_profiles"):
    f = getattr(statistics, name)
    monkeypatch.setattr(statistics, name, lambda *a, f=f: f(*a, reps=20))
  w = str(tmp_path / "w")
  report = runner.run(
    "experiments/studies/robust_ablation.py:cpu",
    w,
    write_report,
    LocalPool(),
    training="tests.fake_training",
  )
  arms = [name for name, _ in robust_ablation.ARMS] + ["robust"]
  for arm in arms:
    for seed in (0, 1):
      c = artifacts.read_config(f"{w}/{arm}/cartpole-swingup/search/seed_{seed}")
      assert c["phase"] == "search" and c["loop"]["total_env_steps"] == 2_000
      assert c["arch"]["eigen_every_updates"] == 100  # the same monitor in every arm
  ada = artifacts.read_config(f"{w}/darts_ada/cartpole-swingup/search/seed_0")["arch"]
  assert ada["adaptive_l2"] == 3e-4 and ada["early_stop"] and ada["beta_decay"] == 0.0
  text = open(report).read()
  assert "| darts | the reference | 2 |" in text
  assert "| darts_ada | arch.adaptive_l2=0.0003, arch.early_stop=True | 2 |" in text
  assert "| second_order | arch.mode=second_order | 2 |" in text
  assert (
    "| robust | arch.beta_decay=1.0, arch.early_stop=True, arch.smoothing_eps=0.3 | 2 |" in text
  )
  # The fake monitor's rows, and the cell the Cells step discretized from each search's end.
  assert "| drop_path/seed_1 | normal 0.814 | 4 / 8 / 8 | - | " in text
  assert os.path.isfile(f"{w}/drop_path/cartpole-swingup/cells/seed_1_at_100.json")
  assert re.search(r"\| \d+ of \d+ \|", text.split("| drop_path/seed_1 |")[1].splitlines()[0])
  pairs = [line for line in text.splitlines() if line.startswith("| ") and "| darts | 0." in line]
  assert len(pairs) == len(arms) - 1  # P(X > darts) for each other arm, no other pair
  assert pathlib.Path(report).with_name("collapse.png").is_file()
  # Redrawn from the workdir (launch/study.py --report: the record as stored, its methods
  # object sorted by name), the default is still the reference and the order the study's.
  assert runner.rewrite_reports(w, write_report) == [report]
  again = open(report).read()
  assert "| darts | the reference | 2 |" in again
  assert f"methods: {', '.join(arms)};" in again
