"""DualOptimizer: the update modes against hand-written steps, the collapse monitor, early
stopping, schedules, smoothing, fixed encoders with every option on, and the same update under
pmap on 2 forced CPU devices."""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from darts_rl import parallel
from darts_rl.agents.optim import DualOptimizer, ProbedStep
from darts_rl.config import adam_config, arch_config, encoder_config
from darts_rl.networks import make_encoder
from darts_rl.search import hessian, robustness
from tests.forced_devices import assert_script_ok

LR = 0.01
KEY = jax.random.PRNGKey(0)


def _arch(**options):
  c = arch_config(adam_config(LR))
  c.update(options)
  return c


def _every_probe_stops(**extra):
  """Arch options whose early-stopping rule may fire at any probe: one probe per update (3
  Lanczos steps), windows of one probe, lag one, no warm-up."""
  return _arch(
    eigen_every_updates=1,
    eigen_iterations=3,
    early_stop=True,
    early_stop_window=1,
    early_stop_lag=1,
    early_stop_warmup=0.0,
    **extra,
  )


def _bilinear(params, alphas, batch):
  """A loss coupling both pytrees: sum(w * x * batch) + |x|^2 / 2 + |w|^2 / 2."""
  w, x = params["w"], alphas["x"]
  loss = jnp.sum(w * x * batch) + 0.5 * jnp.sum(x**2) + 0.5 * jnp.sum(w**2)
  return loss, {"l": loss}


PARAMS = {"w": jnp.array([0.5, -1.0, 2.0])}
ALPHAS = {"x": jnp.array([1.0, 0.3, -0.7])}
A, B = jnp.array([1.0, 2.0, -1.0]), jnp.array([-2.0, 0.5, 1.0])


def _adam_step(tree, g):
  tx = optax.adam(LR)
  u, _ = tx.update(g, tx.init(tree), tree)
  return optax.apply_updates(tree, u)


@pytest.mark.parametrize("mode", ["joint", "alternating", "second_order"])
def test_update_modes_equal_hand_written_steps(mode):
  opt = DualOptimizer(optax.adam(LR), _arch(mode=mode))
  st, aux = opt.update(_bilinear, opt.init(PARAMS, ALPHAS), A, B, None)
  params, alphas, sa = st.params, st.alphas, st.arch_opt_state
  w, x = PARAMS["w"], ALPHAS["x"]
  g = {"w": x * A + w}  # the weight gradient on minibatch A
  np.testing.assert_allclose(params["w"], _adam_step(PARAMS, g)["w"], rtol=1e-6)
  if mode == "joint":  # the same loss, the same minibatch
    ga = w * A + x
  elif mode == "alternating":  # minibatch B, the updated weights
    ga = params["w"] * B + x
  else:  # through the virtual step: Adam's first step on A, which is the real weight step
    loss_of = lambda b: lambda p, a: _bilinear(p, a, b)[0]
    tx = optax.adam(LR)
    ga = hessian.unrolled_arch_grad(loss_of(A), loss_of(B), PARAMS, ALPHAS, g, tx, tx.init(PARAMS))[
      "x"
    ]
    # By hand: Adam's first step is U(g) = -lr g / (|g| + eps), dU/dg = -lr eps / (|g| + eps)^2
    # (about 0: a sign step hardly depends on the gradient's size); w' = w + U(g);
    # d/dx [sum(w' x B) + |x|^2/2 + |w'|^2/2] = w' B + x + dU/dg A (x B + w').
    w1 = w - LR * g["w"] / (jnp.abs(g["w"]) + 1e-8)
    np.testing.assert_allclose(params["w"], w1, rtol=1e-6)
    du = -LR * 1e-8 / (jnp.abs(g["w"]) + 1e-8) ** 2
    np.testing.assert_allclose(ga, w1 * B + x + du * A * (x * B + w1), rtol=1e-4)
  np.testing.assert_allclose(alphas["x"], _adam_step(ALPHAS, {"x": ga})["x"], rtol=1e-5)
  np.testing.assert_allclose(aux["arch_grad_norm"], np.linalg.norm(ga), rtol=1e-4)
  assert int(sa.updates) == 1


def test_monitor_probes_every_k_updates_with_the_known_eigenvalue():
  # The alphas' Hessian of 1.5 |x|^2 + ... is 3 I: every probe finds 3.
  def loss_fn(p, a, b):
    return 1.5 * jnp.sum(a["x"] ** 2) + jnp.sum(p["w"] * b), {}

  opt = DualOptimizer(optax.sgd(LR), _arch(eigen_every_updates=3, eigen_iterations=5))
  st = opt.init(PARAMS, ALPHAS)
  step = jax.jit(lambda st, k: opt.update(loss_fn, st, A, None, None, k))
  assert "arch/eigenvalue" not in opt.summary(ALPHAS, st.arch_opt_state)  # nothing probed yet
  probes = []
  for i in range(7):
    st, _ = step(st, jax.random.PRNGKey(i))
    probes.append(int(st.arch_opt_state.monitor.probes))
  assert probes == [1, 1, 1, 2, 2, 2, 3]  # at arch updates 0, 3, 6
  summary = opt.summary(st.alphas, st.arch_opt_state)
  np.testing.assert_allclose(summary["arch/eigenvalue"], 3.0, rtol=1e-5)
  assert summary["arch/updates"] == 7.0 and "arch/stopped" not in summary
  # Decided on the host (ProbedStep: two compiled steps, no cond; what the agents use), the
  # count read from the state once per call of an agent's learn, here also after a "resume"
  # at update 4 (a new ProbedStep, its count read from the state): the same states as the
  # device's decision.
  assert [opt.due(i) for i in range(7)] == [True, False, False, True, False, False, True]
  d = parallel.Devices(1)
  fn = lambda st, k, probe: opt.update(loss_fn, st, A, None, None, k, probe)
  steps = ProbedStep(opt, d, fn)
  assert steps.probing and sorted(steps._fns) == [False, True]
  st2 = d.replicate(opt.init(PARAMS, ALPHAS))
  for calls in (range(4), range(3)):
    updates = steps.count(st2.arch_opt_state)
    for i in calls:
      st2, _ = steps(updates + i, st2, d.broadcast(jax.random.PRNGKey(updates + i)))
    steps = ProbedStep(opt, d, fn)
  assert updates == 4
  for x, y in zip(jax.tree.leaves(st), jax.tree.leaves(d.unreplicate(st2))):
    np.testing.assert_allclose(x, y, rtol=1e-6)
  off = DualOptimizer(optax.sgd(LR), _arch())
  assert not off.due(0)  # monitor off: one compiled step, nothing read from the devices
  steps = ProbedStep(off, d, fn)
  assert list(steps._fns) == [False] and steps.count(None) == 0 and not steps.due(0)


def test_early_stopping_rolls_the_alphas_back_once_the_eigenvalue_rises():
  """loss = c (|x|^2 / 2 - 1): the alphas' Hessian is c I and SGD on c raises it by
  lr (1 - |x|^2 / 2) per step. With a window of 1, a lag of 1, no warm-up and ratio 0.75 the
  rule fires at the second probe (c = 1 + 0.5 (1 - 0.01) = 1.495: 1 / 1.495 < 0.75), and the
  alphas go back to those of the first probe (update 0, the initial ones), not those of the
  moment it fired; then they stay there while the weights go on learning."""

  def loss_fn(p, a, b):
    del b
    return p["c"] * (0.5 * jnp.sum(a["x"] ** 2) - 1.0), {}

  arch = _every_probe_stops()
  opt = DualOptimizer(optax.sgd(0.5), arch)
  st = opt.init({"c": jnp.array(1.0)}, {"x": jnp.array([0.1, -0.1])})
  step = jax.jit(lambda st, k: opt.update(loss_fn, st, None, None, None, k))
  history = []
  for i in range(4):
    st, _ = step(st, jax.random.PRNGKey(i))
    m = st.arch_opt_state.monitor
    history.append((float(st.params["c"]), np.asarray(st.alphas["x"]), float(m.eigenvalue)))
  np.testing.assert_allclose([h[2] for h in history[:2]], [1.0, 1.495], rtol=1e-5)
  assert int(m.stopped_at) == 0
  assert not np.allclose(history[0][1], [0.1, -0.1])  # the first update moved them
  for _, x, _ in history[1:]:
    np.testing.assert_array_equal(x, np.float32([0.1, -0.1]))  # then went back and froze
  assert history[3][0] > history[1][0]  # the weights go on learning
  summary = opt.summary(st.alphas, st.arch_opt_state)
  assert summary["arch/stopped"] == 1.0 and summary["arch/stopped_at_update"] == 0.0
  # With RobustDARTS's warm-up (0.2 of 10 updates) the rollback point must be update 2 or
  # later. At lr 2 c goes 1, 2.98, 4.96, 6.94: the rule first fires at the probe of update 3
  # (4.96 / 6.94 = 0.71), restoring the alphas of update 2.
  arch.early_stop_warmup = 0.2
  opt = DualOptimizer(optax.sgd(2.0), arch, total_arch_updates=10)
  st = opt.init({"c": jnp.array(1.0)}, {"x": jnp.array([0.1, -0.1])})
  step = jax.jit(lambda st, k: opt.update(loss_fn, st, None, None, None, k))
  seen = []
  for i in range(5):
    seen.append(np.asarray(st.alphas["x"]))
    st, _ = step(st, jax.random.PRNGKey(i))
  assert int(st.arch_opt_state.monitor.stopped_at) == 2
  np.testing.assert_array_equal(st.alphas["x"], seen[2])


def test_darts_ada_raises_l2_restores_the_earlier_alphas_and_goes_on():
  """DARTS-ADA on a loss whose alphas' Hessian is b I, b the minibatch, doubling each update:
  b |x|^2 / 2 + w. With a window of 1, a lag of 1 and no warm-up the rule may fire two probes
  after the start or a rollback: at updates 1, 3, 5, 6. The L2 factor goes 0.01 -> 0.1 -> 1
  (its maximum: start x 10^2), each rise restoring the alphas and the alpha optimizer's state of
  the probe before; at the maximum the triggers of updates 5 and 6 change nothing and nothing
  freezes. The weight step sees g + l2 w: SGD at lr 0.1 gives w - 0.1 (1 + l2 w)."""

  def loss_fn(p, a, b):
    return b * 0.5 * jnp.sum(a["x"] ** 2) + p["w"], {}

  arch = _every_probe_stops(adaptive_l2=0.01, adaptive_l2_factor=10.0, adaptive_l2_max=1.0)
  opt = DualOptimizer(optax.sgd(0.1), arch)
  st = opt.init({"w": jnp.array(1.0)}, {"x": jnp.array([0.1, -0.1])})
  assert float(st.arch_opt_state.monitor.l2) == pytest.approx(0.01)
  assert opt.options.adaptive_l2_restarts == 2
  step = jax.jit(lambda st, b, k: opt.update(loss_fn, st, b, None, None, k))
  xs, ws, l2s, restarts, rolled = [np.asarray(st.alphas["x"])], [1.0], [], [], []
  for i in range(7):
    st, _ = step(st, 2.0**i, jax.random.PRNGKey(i))
    m = st.arch_opt_state.monitor
    xs.append(np.asarray(st.alphas["x"]))
    ws.append(float(st.params["w"]))
    l2s.append(float(m.l2))
    restarts.append(int(m.restarts))
    rolled.append(int(m.rolled_back_to))
    np.testing.assert_allclose(float(m.eigenvalue), 2.0**i, rtol=1e-5)
  np.testing.assert_allclose(l2s, [0.01, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0], rtol=1e-6)
  assert restarts == [0, 1, 1, 2, 2, 2, 2]
  assert rolled == [-1, 0, 0, 2, 2, 2, 2]
  # The weights: the L2 factor of each step is the one after that update's probe.
  w = 1.0
  for l2, got in zip([0.01, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0], ws[1:]):
    w = w - 0.1 * (1.0 + l2 * w)
    np.testing.assert_allclose(got, w, rtol=1e-5)
  np.testing.assert_allclose(ws[1:4], [0.899, 0.79001, 0.6821099], rtol=1e-5)
  # The alphas: update 1 restores those before update 0 (the initial ones) and update 3 those
  # before update 2 (the same); each restart's first step is Adam's first step again (its state
  # restored too: -0.01 sign(x)); updates 5 and 6 step on.
  x0 = np.float32([0.1, -0.1])
  first = x0 - 0.01 * np.sign(x0)
  for i, want in [(1, x0), (3, x0)]:
    np.testing.assert_array_equal(xs[i + 1], want)
  for i in (0, 2, 4):
    np.testing.assert_allclose(xs[i + 1], first, rtol=1e-5)
  assert np.all(np.abs(xs[6]) < np.abs(xs[5])) and np.all(np.abs(xs[7]) < np.abs(xs[6]))
  assert int(m.stopped_at) == -1  # DARTS-ADA never freezes
  summary = opt.summary(st.alphas, st.arch_opt_state)
  assert summary["arch/l2"] == pytest.approx(1.0) and summary["arch/ada_restarts"] == 2.0
  assert summary["arch/rolled_back_to_update"] == 2.0 and "arch/stopped" not in summary
  # The accumulation passes take the same L2 step.
  g = ({"w": jnp.array(1.0)}, {"x": jnp.zeros(2)})
  st1, _ = opt.apply_pass(st, g, "weights", None)
  # A difference of float32 terms near 0.6 whose result is near -0.007: its error is a few
  # ulps of the terms (6e-8 each), not of the result (jaxlib 0.12 rounds one ulp apart).
  want = ws[-1] - 0.1 * (1.0 + 1.0 * ws[-1])
  np.testing.assert_allclose(st1.params["w"], want, rtol=0, atol=2e-7)
  # A fixed encoder takes no L2 (every option is a no-op there).
  assert float(opt.init(st.params, {}).arch_opt_state.monitor.l2) == 0.0
  # With weights and alphas clipped together (joint mode's default), the L2 term is clipped with
  # the gradient: a weight the loss ignores still steps, by Adam's first step -lr sign(l2 w).
  weight = adam_config(LR, max_grad_norm=0.5)
  arch.optimizer = adam_config(LR)
  joint = DualOptimizer.from_config(weight, arch)
  assert joint.joint_clip == 0.5
  st = joint.init({"w": jnp.array([1.0, -2.0])}, {"x": jnp.array([0.1, -0.1])})
  st, _ = joint.update(lambda p, a, b: (jnp.sum(a["x"] ** 2), {}), st, 1.0, None, None, KEY)
  np.testing.assert_allclose(st.params["w"], [1.0 - LR, -2.0 + LR], rtol=1e-6)


def test_scheduled_values_are_set_each_update_and_never_trained():
  def loss_fn(p, a, b):  # depends on both scheduled values: they would get gradients
    s = a["schedule"]
    return jnp.sum(a["x"] * p["w"]) / s["temperature"] + s["aux_skip"] * jnp.sum(b), {}

  opt = DualOptimizer(
    optax.sgd(LR),
    _arch(temperature_schedule="linear", temperature_end=1.0, aux_skip=1.0),
    total_arch_updates=4,
  )
  alphas = dict(ALPHAS, schedule={"temperature": jnp.array(2.0), "aux_skip": jnp.array(1.0)})
  st = opt.init(PARAMS, alphas)
  # Masked from the optimizer: its state and the alpha gradient hold the trainable x alone.
  mu = st.arch_opt_state.tx[0].mu
  assert set(mu) == {"x"}
  assert set(opt.grads(loss_fn, PARAMS, alphas, A)[3]) == {"x"}
  step = jax.jit(lambda st: opt.update(loss_fn, st, A, None, None))
  want = {1: (1.75, 0.75), 2: (1.5, 0.5), 4: (1.0, 0.0), 6: (1.0, 0.0)}  # capped at the end
  for n in range(1, 7):
    st, _ = step(st)
    if n in want:
      got = opt.summary(st.alphas, st.arch_opt_state)
      np.testing.assert_allclose(
        [got["arch/temperature"], got["arch/aux_skip"]], want[n], atol=1e-6
      )


def test_beta_decay_gradient_is_added_with_its_rising_weight():
  opt = DualOptimizer(optax.sgd(LR), _arch(beta_decay=2.0), total_arch_updates=4)
  alphas = {"x": jnp.array([[0.0, np.log(3.0)]])}
  sa = opt.init(PARAMS, alphas).arch_opt_state
  for n in range(3):
    # After n updates lambda = 2 n / 4; d/dx logsumexp(x) = softmax(x) (one edge) at the x the
    # step saw: softmax([0, ln 3]) = [1/4, 3/4] at first.
    x_before = np.asarray(alphas["x"])
    alphas, sa, ga = opt.apply_arch(alphas, sa, {"x": jnp.zeros((1, 2))}, None)
    np.testing.assert_allclose(
      ga["x"], 2.0 * n / 4 * jax.nn.softmax(x_before), rtol=1e-5, atol=1e-7
    )
  assert opt.summary(alphas, sa)["arch/beta_decay_weight"] == 1.5


def test_random_smoothing_perturbs_the_weight_steps_mixing_weights_only():
  """SDARTS-RS: the weight gradient is taken at T log(w') with w' the perturbed mixing weights
  (robustness.smooth, eps ramped from 0.03), the alpha gradient at the alphas themselves, in
  joint mode too."""
  for mode in ("joint", "alternating"):
    opt = DualOptimizer(optax.sgd(LR), _arch(mode=mode, smoothing_eps=0.3), total_arch_updates=4)
    st = opt.init(PARAMS, ALPHAS)
    sa = st.arch_opt_state
    key = jax.random.PRNGKey(0)
    for updates, eps in ((0, 0.03), (2, 0.165)):
      sa = sa._replace(updates=jnp.asarray(updates, jnp.int32))
      _, _, g, ga = opt.grads(_bilinear, PARAMS, ALPHAS, A, key, sa)
      x1 = robustness.smooth(ALPHAS, jax.random.split(key)[0], eps, 1.0)["x"]
      np.testing.assert_allclose(g["w"], x1 * A + PARAMS["w"], rtol=1e-5)  # g_w = x' A + w
      change = jax.nn.softmax(x1) - jax.nn.softmax(ALPHAS["x"])
      assert 0 < np.abs(change).max() <= 2 * eps
      if mode == "joint":  # the alphas' gradient at the unperturbed point
        np.testing.assert_allclose(ga["x"], PARAMS["w"] * A + ALPHAS["x"], rtol=1e-6)
      else:
        assert ga is None
      assert opt.summary(ALPHAS, sa)["arch/smoothing_eps"] == pytest.approx(eps)
    with pytest.raises(ValueError, match="smoothing_eps > 0 needs a PRNG key"):
      opt.update(_bilinear, st._replace(arch_opt_state=sa), A, B, None)
    with pytest.raises(ValueError, match="smoothing_eps > 0 needs a PRNG key"):
      opt.grads(_bilinear, PARAMS, ALPHAS, A, key)


def test_scheduled_drop_path_reaches_the_weight_step_only():
  """The weight step's alphas carry drop_path = 0.2 p and a key; the alpha step's do not."""

  def loss_fn(p, a, b):
    prob = a.get("schedule", {}).get("drop_path", 0.0)
    assert ("drop_key" in a.get("schedule", {})) == ("drop_path" in a.get("schedule", {}))
    return _bilinear(p, a, b)[0] + prob * jnp.sum(p["w"]) + prob * jnp.sum(a["x"]), {}

  opt = DualOptimizer(optax.sgd(LR), _arch(mode="alternating", drop_path=0.2), 4)
  sa = opt.init(PARAMS, ALPHAS).arch_opt_state
  sa = sa._replace(updates=jnp.asarray(2, jnp.int32))
  _, _, g, _ = opt.grads(loss_fn, PARAMS, ALPHAS, A, jax.random.PRNGKey(0), sa)
  np.testing.assert_allclose(g["w"], ALPHAS["x"] * A + PARAMS["w"] + 0.1, rtol=1e-6)
  ga = opt.arch_grads(loss_fn, PARAMS, ALPHAS, B)
  np.testing.assert_allclose(ga["x"], PARAMS["w"] * B + ALPHAS["x"], rtol=1e-6)
  with pytest.raises(ValueError, match="drop_path > 0 needs a PRNG key"):
    opt.grads(loss_fn, PARAMS, ALPHAS, A)


EVERYTHING = dict(
  eigen_every_updates=1,
  eigen_iterations=2,  # every Lanczos step runs the same code; more only compile longer
  early_stop=True,
  temperature_schedule="exponential",
  temperature_end=0.5,
  beta_decay=1.0,
  aux_skip=1.0,
  smoothing_eps=0.1,
  edge_weights="learned",
)


@pytest.mark.parametrize("mode", ["joint", "alternating", "second_order"])
def test_fixed_encoders_take_every_option_as_a_no_op(mode):
  # No key, no arch_batch, no total_arch_updates: nothing to search, nothing needed.
  opt = DualOptimizer(optax.sgd(LR), _arch(mode=mode, **EVERYTHING))
  loss_fn = lambda p, a, b: (jnp.sum(p["w"] ** 2), {})
  st, aux = jax.jit(lambda st: opt.update(loss_fn, st, A, None, None))(opt.init(PARAMS, {}))
  params, alphas, sa = st.params, st.alphas, st.arch_opt_state
  assert alphas == {} and float(aux["arch_grad_norm"]) == 0.0
  assert not np.allclose(params["w"], PARAMS["w"])
  assert opt.grads(loss_fn, PARAMS, {}, A)[3] == ({} if mode == "joint" else None)
  assert set(opt.summary({}, sa)) == {
    "arch/updates",
    "arch/stopped",
    "arch/beta_decay_weight",
    "arch/smoothing_eps",
  }


def test_errors_are_one_clear_line():
  with pytest.raises(ValueError, match="valid modes: joint, alternating, second_order"):
    DualOptimizer(optax.sgd(LR), _arch(mode="unrolled"))
  with pytest.raises(ValueError, match="total_arch_updates=N"):
    DualOptimizer(optax.sgd(LR), _arch(beta_decay=1.0)).init(PARAMS, ALPHAS)
  opt = DualOptimizer(optax.sgd(LR), _arch(edge_weights="learned"))
  with pytest.raises(ValueError, match="make_encoder\\(config.encoder, arch=config.arch\\)"):
    opt.init(PARAMS, ALPHAS)
  second = DualOptimizer(optax.sgd(LR), _arch(mode="second_order"))
  st = second.init(PARAMS, ALPHAS)
  with pytest.raises(ValueError, match="use DualOptimizer.update, not grads"):
    second.grads(_bilinear, PARAMS, ALPHAS, A)
  with pytest.raises(ValueError, match="needs arch_batch"):
    second.update(_bilinear, st, A, None, None)
  assert second.needs_arch_batch and not DualOptimizer(optax.sgd(LR), _arch()).needs_arch_batch
  monitor = DualOptimizer(optax.sgd(LR), _arch(eigen_every_updates=2))
  with pytest.raises(ValueError, match="needs a PRNG key"):
    monitor.update(_bilinear, monitor.init(PARAMS, ALPHAS), A, None, None)


@pytest.mark.heavy
def test_tiny_supernet_with_every_option_searches():
  """End to end: a micro supernet built with the options' alpha entries, second-order updates
  with every option on; everything finite, the op alphas and edge weights move, the scheduled
  values follow their schedules."""
  arch = _arch(mode="second_order", **EVERYTHING)
  enc = make_encoder(
    encoder_config(kind="supernet", channels=(4,), cells_per_stage=1, num_nodes=2, feature_dim=8),
    arch=arch,
  )
  assert set(enc.alphas) == {"normal", "edges", "schedule"}
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 2, 8, 8, 3), np.uint8))
  params = enc.module.init(jax.random.PRNGKey(0), obs[0], enc.alphas)["params"]

  def loss_fn(p, a, b):
    loss = jnp.mean((enc.module.apply({"params": p}, b, a) - 0.5) ** 2)
    return loss, {}

  opt = DualOptimizer(optax.adam(LR), arch, total_arch_updates=4)
  st = opt.init(params, enc.alphas)
  step = jax.jit(lambda st, k: opt.update(loss_fn, st, obs[0], obs[1], None, k))
  for i in range(2):
    st, aux = step(st, jax.random.PRNGKey(i))
    assert all(np.isfinite(float(v)) for v in aux.values())
  alphas, sa = st.alphas, st.arch_opt_state
  assert np.abs(np.asarray(alphas["normal"][1])).max() > 0  # from zero
  assert np.abs(np.asarray(alphas["edges"]["normal"][1])).max() > 0
  summary = opt.summary(alphas, sa)
  np.testing.assert_allclose(summary["arch/temperature"], 0.5**0.5, rtol=1e-5)  # p = 1/2
  np.testing.assert_allclose(summary["arch/aux_skip"], 0.5, rtol=1e-6)
  assert np.isfinite(summary["arch/eigenvalue"]) and summary["arch/stopped"] == 0.0


PMAP_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, optax
    from darts_rl.agents.optim import DualOptimizer
    from darts_rl.config import adam_config, arch_config
    from darts_rl.parallel import Devices
    assert jax.local_device_count() == 2

    def loss_fn(p, a, b):  # a mean over the batch, so equal shards average to the whole
      h = jnp.tanh(b @ p["w1"]) * jax.nn.softmax(a["x"])[0] + (b @ p["w2"]) * jax.nn.softmax(
          a["x"])[1]
      loss = jnp.mean((h.sum(-1) - 1.0) ** 2) + 0.1 * jnp.sum(a["x"] ** 3)
      return loss, {{}}

    rng = np.random.default_rng(0)
    params = {{"w1": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
              "w2": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)}}
    alphas = {{"x": jnp.array([0.2, -0.1])}}
    b1, b2 = (jnp.asarray(rng.normal(size=(8, 3)), jnp.float32) for _ in range(2))
    c = arch_config(adam_config(0.01))
    c.update(dict(mode="{mode}", eigen_every_updates=1, eigen_iterations=2, smoothing_eps=0.1,
                  beta_decay=1.0))
    opt = DualOptimizer(optax.adam(0.01), c, total_arch_updates=5)
    st = opt.init(params, alphas)
    key = jax.random.PRNGKey(7)
    one = jax.jit(lambda *x: opt.update(loss_fn, *x, None, key))(st, b1, b2)
    rep = Devices().replicate
    def step(st, b1, b2):  # the agents average aux (the loss terms) themselves
      st, aux = opt.update(loss_fn, st, b1, b2, "d", key)
      return st, jax.lax.pmean(aux, "d")
    two = jax.pmap(step, axis_name="d")(rep(st), b1.reshape(2, 4, 3), b2.reshape(2, 4, 3))
    two = Devices().unreplicate(two)
    for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
      np.testing.assert_allclose(x, y, rtol=2e-4, atol=1e-6)
    m = two[0].arch_opt_state.monitor
    assert int(m.probes) == 1 and float(m.eigenvalue) != 0
    print("OK")
""")


@pytest.mark.parametrize("mode", ["alternating", "second_order"])
def test_pmapped_update_with_options_equals_single_device(mode):
  assert_script_ok(PMAP_SCRIPT.format(mode=mode), devices=2)


def test_joint_mode_clips_weights_and_alphas_by_one_global_norm():
  # As released: one Adam over every trainable variable, clipped by one global norm. Adam's eps
  # of 1 makes its step depend on the gradient's scale, so the clip shows in the result.
  weight = adam_config(LR, eps=1.0, max_grad_norm=0.5)
  big = lambda p, a, b: _bilinear({"w": 100 * p["w"]}, {"x": 100 * a["x"]}, b)
  ref = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(LR, eps=1.0))
  both = (PARAMS, ALPHAS)
  g = jax.grad(lambda t: big(t[0], t[1], A)[0])(both)
  u, _ = ref.update(g, ref.init(both), both)
  want_params, want_alphas = optax.apply_updates(both, u)
  arch = arch_config(weight)
  opt = DualOptimizer.from_config(weight, arch)
  assert opt.joint_clip == 0.5
  st, aux = opt.update(big, opt.init(PARAMS, ALPHAS), A, None, None)
  params, alphas = st.params, st.alphas
  np.testing.assert_allclose(params["w"], want_params["w"], rtol=1e-6)
  np.testing.assert_allclose(alphas["x"], want_alphas["x"], rtol=1e-6)
  assert aux["grad_norm"] > 0.5  # the logged norm is before clipping
  # The earlier form: each pytree clipped by its own optimizer's norm (here 0.5 each).
  arch.clip_together = False
  sep = DualOptimizer.from_config(weight, arch)
  assert sep.joint_clip == 0.0
  st2, _ = sep.update(big, sep.init(PARAMS, ALPHAS), A, None, None)
  params2, alphas2 = st2.params, st2.alphas
  own = lambda tree, grad: optax.apply_updates(tree, ref.update(grad, ref.init(tree), tree)[0])
  np.testing.assert_allclose(params2["w"], own(PARAMS, g[0])["w"], rtol=1e-6)
  np.testing.assert_allclose(alphas2["x"], own(ALPHAS, g[1])["x"], rtol=1e-6)
  assert not np.allclose(params2["w"], params["w"])
