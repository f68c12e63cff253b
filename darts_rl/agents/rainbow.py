"""Rainbow (C51 + dueling + double Q + n-step + prioritized replay) with a searchable encoder.

Hessel et al. 2018, "Rainbow"; Bellemare et al. 2017 (C51); hyperparameters as released by
RL-DARTS (docs/paper.md): 51 atoms on [0, 1] with rewards divided by the game's max reward,
n = 7, gamma 0.99, Adam 5e-5, batch 256, replay 500k, priority exponent 0.8, IS exponent 0.2,
target update every 500 learner steps, Ape-X per-actor epsilons each decayed as
eps ** (1 + 7 min(t / T, 1)), Adam epsilon 1e-8, greedy evaluation.

One `iteration` = `rollout_steps` vectorized env steps of every device's env group
(epsilon-greedy, per-env epsilons) appended to that device's replay shard, then
`updates_per_iteration` learner updates once the replay holds `learning_starts` env steps. The
supernet acts during search; its alphas are trained by the same C51 loss through
`optim.DualOptimizer` (joint or alternating). Each learner update is one device-mapped call over all
devices: every device samples batch_size / devices windows from its own shard, the gradients
are averaged, and each device sets the new priorities of its own samples.

Replay layout (darts_rl/agents/replay.py): a flashbax prioritised *trajectory* buffer with one
row per env. Each row stores per-step records (obs_t, a_t, r_{t+1}, terminated_{t+1}, game id)
so every observation is kept once; a sampled item is a window of n + 1 consecutive records from
which `n_step_transition` assembles (s_tm1, a_tm1, r_t, discount_t, s_t). An episode end inside
the window cuts the return and the bootstrap (Procgen reports every episode end as
`terminated`; a `truncated` end, which Procgen never produces, is treated the same because the
env gives no final observation here). Prioritized sampling is per shard: each device's batch
share is drawn by priority within its own env group's experience (importance weights are
normalized by the max over all devices), so results depend on the number of devices, not on
how they are spread over processes.

The replay is explicit state (`AgentState.replay`), NOT checkpointed (it would be GBs: 500k
64x64x3 frames are 6 GB). On resume it starts empty, refills, and learning restarts after
`learning_starts` new env steps; params, target params, optimizer states, alphas and the
env-step counter (epsilon schedule) are restored from the checkpoint.

Math at module level (n_step_transition, categorical_double_q_loss, importance_weights,
apex_epsilons, actor_epsilons) is tested against hand-computed numbers.
"""

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from darts_rl import parallel
from darts_rl.agents import optim
from darts_rl.agents import replay as replay_lib
from darts_rl.agents.base import (
  AgentBase,
  AgentState,
  Batches,
  EnvSpec,
  arch_updates,
  mean_metrics,
  update_keys,
)

EPSILON_SCHEDULES = ("power", "constant", "linear")


# ---------------------------------------------------------------------------- learning math


def n_step_transition(rewards, terminated, gamma: float):
  """n-step return and bootstrap discount of windows that may contain an episode end.

  rewards, terminated: [..., n]; entry j is the reward / end flag of the j-th step after s_tm1.
  Returns (r_t [...], discount_t [...]):
    r_t = sum_j gamma^j r_j while the episode runs (rewards after an end belong to the next
          episode and are dropped);
    discount_t = gamma^n if no step ended the episode, else 0 (terminal: no bootstrap).
  """
  n = rewards.shape[-1]
  alive_after = jnp.cumprod(1.0 - terminated.astype(jnp.float32), axis=-1)
  alive_before = jnp.concatenate([jnp.ones_like(alive_after[..., :1]), alive_after[..., :-1]], -1)
  powers = gamma ** jnp.arange(n, dtype=jnp.float32)
  r_t = jnp.sum(powers * alive_before * rewards, axis=-1)
  return r_t, (gamma**n) * alive_after[..., -1]


def q_values(logits, atoms):
  """logits [..., A, K], atoms [K] -> expected values [..., A]."""
  return jnp.sum(jax.nn.softmax(logits, axis=-1) * atoms, axis=-1)


def categorical_double_q_loss(logits_tm1, a_tm1, r_t, discount_t, logits_t, q_t_selector, atoms):
  """Per-sample C51 double-Q cross-entropy (rlax; Bellemare et al. 2017, van Hasselt 2016).

  logits_tm1 [B, A, K] online net at s_tm1; a_tm1 [B]; r_t, discount_t [B] (n-step);
  logits_t [B, A, K] target net at s_t; q_t_selector [B, A] online net's Q at s_t (picks the
  bootstrap action); atoms [K]. Returns [B] cross-entropy between the target distribution
  projected on `atoms` and the predicted one.
  """
  f = lambda lt, a, r, d, ltt, sel: rlax.categorical_double_q_learning(
    atoms, lt, a, r, d, atoms, ltt, sel
  )
  return jax.vmap(f)(logits_tm1, a_tm1, r_t, discount_t, logits_t, q_t_selector)


def importance_weights(probabilities, exponent: float, axis_name=None):
  """PER importance-sampling weights (Schaul et al. 2016) normalized by the batch max.

  probabilities [B] sampling probabilities; w_i = (N P_i)^-exponent / max_j w_j, in which the
  buffer size N cancels. With `axis_name`, the batch is every device's share and the max is
  taken over all of them (shards of equal size: the 1 / devices factor of P_i cancels too).
  """
  w = jnp.maximum(probabilities, 1e-12) ** (-exponent)
  return w / parallel.pmax(jnp.max(w), axis_name)


def apex_epsilons(num_actors: int, base: float = 0.4, alpha: float = 7.0) -> np.ndarray:
  """Ape-X ladder (Horgan et al. 2018): eps_i = base ** (1 + alpha * i / (N - 1)), i < N."""
  frac = np.arange(num_actors) / max(num_actors - 1, 1)
  return (base ** (1.0 + alpha * frac)).astype(np.float32)


def actor_epsilons(game_ids, base: float, alpha: float) -> np.ndarray:
  """[N] epsilons: the Ape-X ladder over the rows of each game (so every game of a multi-game
  batch gets the whole range, from `base` down to base ** (1 + alpha))."""
  game_ids = np.asarray(game_ids)
  eps = np.empty(game_ids.shape, np.float32)
  for g in np.unique(game_ids):
    rows = np.flatnonzero(game_ids == g)
    eps[rows] = apex_epsilons(rows.size, base, alpha)
  return eps


def scheduled_epsilons(
  ladder, env_steps: int, schedule: str, start: float, decay_env_steps: int, power: float = 7.0
) -> np.ndarray:
  """The epsilons [N] at `env_steps`, with f = min(env_steps / decay_env_steps, 1):
  power (the release's AtariEpsilonSchedule): ladder ** (1 + power * f), each env's epsilon
    shrinking from its Ape-X value to that value ** (1 + power) at decay_env_steps;
  constant: the ladder; linear: from `start` down to the ladder."""
  frac = min(1.0, env_steps / max(decay_env_steps, 1))
  ladder = np.asarray(ladder, np.float64)
  if schedule == "constant":
    return ladder.astype(np.float32)
  if schedule == "power":
    return (ladder ** (1.0 + power * frac)).astype(np.float32)
  return ((1.0 - frac) * start + frac * ladder).astype(np.float32)


# ---------------------------------------------------------------------------- networks


class NoisyDense(nn.Module):
  """Factorised-Gaussian noisy linear layer (Fortunato et al. 2018).

  deterministic=True uses the mean weights (no rng needed); otherwise draws from the 'noise'
  rng stream, one noise sample shared by the batch.
  """

  features: int
  sigma0: float = 0.5

  @nn.compact
  def __call__(self, x, deterministic: bool = True):
    fan_in = x.shape[-1]
    bound = 1.0 / math.sqrt(fan_in)
    uniform = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)
    sigma = nn.initializers.constant(self.sigma0 / math.sqrt(fan_in))
    mu_w = self.param("mu_kernel", uniform, (fan_in, self.features))
    mu_b = self.param("mu_bias", uniform, (self.features,))
    sigma_w = self.param("sigma_kernel", sigma, (fan_in, self.features))
    sigma_b = self.param("sigma_bias", sigma, (self.features,))
    if deterministic:
      return x @ mu_w + mu_b
    k_in, k_out = jax.random.split(self.make_rng("noise"))
    f = lambda e: jnp.sign(e) * jnp.sqrt(jnp.abs(e))
    eps_in = f(jax.random.normal(k_in, (fan_in,)))
    eps_out = f(jax.random.normal(k_out, (self.features,)))
    return x @ (mu_w + sigma_w * jnp.outer(eps_in, eps_out)) + mu_b + sigma_b * eps_out


class RainbowNetwork(nn.Module):
  """encoder(obs, alphas) -> features -> C51 logits [B, A, K] (dueling: V + A - mean_a A)."""

  encoder: nn.Module
  num_actions: int
  num_atoms: int
  hidden: int = 512
  dueling: bool = True
  noisy: bool = False
  sigma0: float = 0.5

  @nn.compact
  def __call__(self, obs, alphas, deterministic: bool = True):
    h = self.encoder(obs, alphas)

    def dense(features, name, x):
      if self.noisy:
        return NoisyDense(features, self.sigma0, name=name)(x, deterministic)
      return nn.Dense(features, name=name)(x)

    def stream(out, name):
      return dense(out, f"{name}_out", nn.relu(dense(self.hidden, f"{name}_hidden", h)))

    B, A, K = h.shape[0], self.num_actions, self.num_atoms
    adv = stream(A * K, "advantage" if self.dueling else "q").reshape(B, A, K)
    if not self.dueling:
      return adv
    value = stream(K, "value").reshape(B, 1, K)
    return value + adv - jnp.mean(adv, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- state & batches


class RainbowLearner(NamedTuple):
  """What the Rainbow learner updates; replicated on every device."""

  params: Any
  target_params: Any
  alphas: Any
  target_alphas: Any
  opt_state: Any
  arch_opt_state: Any
  updates: Any  # int32 scalar: learner updates so far (target-update clock)


class RainbowHost(NamedTuple):
  """Host state, identical on every process."""

  env_steps: np.ndarray  # int64 scalar: env steps of the run so far (epsilon schedule)


class Transition(NamedTuple):
  """An n-step transition batch; every field has leading axis B."""

  obs_tm1: Any  # [B, H, W, C] uint8
  a_tm1: Any  # [B] int32
  r_t: Any  # [B] n-step return of max-reward-normalized rewards
  discount_t: Any  # [B] gamma^n, or 0 when the episode ended inside the window
  obs_t: Any  # [B, H, W, C] uint8 bootstrap observation
  game_id: Any  # [B] int32
  weight: Any  # [B] importance-sampling weight


def transition_from_window(window, gamma: float, weight) -> Transition:
  """window: replay records [B, n + 1] (obs, action, reward, terminated, game_id) -> Transition."""
  n = window["action"].shape[1] - 1
  r_t, discount_t = n_step_transition(window["reward"][:, :n], window["terminated"][:, :n], gamma)
  return Transition(
    window["obs"][:, 0],
    window["action"][:, 0],
    r_t,
    discount_t,
    window["obs"][:, n],
    window["game_id"][:, 0],
    weight,
  )


class Rainbow(AgentBase):
  """Off-policy agent: one iteration = `rollout_steps` vectorized env steps into the replay,
  then `updates_per_iteration` prioritized learner updates (after `learning_starts`)."""

  def __init__(self, config, encoder_spec, spec: EnvSpec, devices: parallel.Devices):
    c = config.rainbow
    if not hasattr(spec.action_spec, "num_actions"):
      raise ValueError("Rainbow needs discrete actions (Procgen); use SAC for DM-Control")
    if c.exploration.schedule not in EPSILON_SCHEDULES:
      raise ValueError(
        f"unknown rainbow.exploration.schedule '{c.exploration.schedule}'; "
        f"valid: {', '.join(EPSILON_SCHEDULES)}"
      )
    if c.v_max <= c.v_min or c.num_atoms < 2:
      raise ValueError(
        f"rainbow support needs v_max > v_min and num_atoms >= 2, got "
        f"[{c.v_min}, {c.v_max}] with {c.num_atoms} atoms"
      )
    if c.batch_size % devices.count:
      raise ValueError(
        f"rainbow.batch_size={c.batch_size} must be a multiple of the number of "
        f"devices ({devices.count}): each samples an equal share"
      )
    self.config = config
    self.spec = spec
    self.devices = devices
    self.num_actions = spec.action_spec.num_actions
    self.reward_scale = np.asarray(spec.reward_scale, np.float32)
    if np.any(self.reward_scale <= 0):
      raise ValueError(f"reward scales must be positive, got {self.reward_scale}")
    self.atoms = jnp.linspace(c.v_min, c.v_max, c.num_atoms, dtype=jnp.float32)
    self.init_alphas = encoder_spec.alphas
    self.net = RainbowNetwork(
      encoder_spec.module,
      self.num_actions,
      c.num_atoms,
      c.hidden,
      c.dueling,
      c.noisy,
      c.noisy_sigma0,
    )
    self.env_steps_per_iteration = c.rollout_steps * spec.num_envs
    e = c.exploration
    self._ladder = actor_epsilons(spec.game_ids, e.eps_base, e.eps_alpha)  # [N] run-wide

    # Replay: one row per env, windows of n + 1 records (see module doc); one shard per device.
    self.row_length = c.replay_capacity // spec.num_envs
    if self.row_length < max(c.n_step + 2, c.rollout_steps):
      raise ValueError(
        f"rainbow.replay_capacity={c.replay_capacity} gives {self.row_length} "
        f"steps per env; need at least n_step + 2 = {c.n_step + 2} and "
        f"rollout_steps = {c.rollout_steps}"
      )
    # Learning needs a full window in every row (flashbax masks windows at the write head).
    self.learning_starts = max(int(c.learning_starts), (c.n_step + 2) * spec.num_envs)
    self.arch_plan = (self.env_steps_per_iteration, c.updates_per_iteration, self.learning_starts)
    self.opt = optim.DualOptimizer.from_config(
      c.optimizer,
      config.arch,
      arch_updates(config, *self.arch_plan),
      temperature=config.encoder.temperature,
    )
    self.replay = replay_lib.TrajectoryReplay(
      spec.envs_per_group,
      self.row_length,
      c.n_step + 1,
      c.batch_size // devices.count,
      c.priority_exponent,
      self._empty_record(),
    )
    d = devices
    self._init = jax.jit(self._init_fn)
    # The network jitted inside the compiled steps: traced once per input shape in this process,
    # however many steps and calls use it (the update's online and target nets on obs and next obs
    # share a shape). XLA inlines the call, so the steps compute what they would with it traced in
    # place.
    self._net = jax.jit(self.net.apply, static_argnames=("deterministic",))
    self._new_replay = d.compile(lambda _: self.replay.init())
    self._add = d.compile(self._add_fn, donate=(0,))
    self._learn = optim.ProbedStep(self.opt, d, self._learn_fn, donate=(0, 1))
    self._row_scale = self.reward_scale[spec.game_ids].reshape(d.count, -1)[
      d.first : d.first + d.local_count
    ]  # [L, n] this process's rows

  # -- state
  def init(self, key) -> AgentState:
    """Fresh online and target networks (target = online), optimizer states, env-step 0."""
    return AgentState(self._init(key), RainbowHost(np.int64(0)))

  def _init_fn(self, key) -> RainbowLearner:
    """One program (run eagerly, the optimizer states would compile one per parameter shape)."""
    obs = jnp.zeros((1,) + self.spec.observation_shape, jnp.uint8)
    params = self.net.init(key, obs, self.init_alphas)["params"]
    dual = self.opt.init(params, self.init_alphas)
    return RainbowLearner(
      params,
      params,
      self.init_alphas,
      self.init_alphas,
      dual.opt_state,
      dual.arch_opt_state,
      jnp.zeros((), jnp.int32),
    )

  def empty_replay(self) -> replay_lib.ReplayState:
    """An empty replay shard on every local device."""
    d = self.devices
    return replay_lib.ReplayState(self._new_replay(d.put(np.zeros((d.local_count,)))), 0)

  def log_scalars(self, state: AgentState):
    """Mean training epsilon, learner updates so far, env steps in the replay."""
    out = {
      "explore/epsilon_mean": float(self.epsilons(state.host.env_steps).mean()),
      "learner/updates": float(self.devices.unreplicate(state.learner.updates)),
    }
    if state.replay is not None:
      out["replay/env_steps"] = float(state.replay.env_steps)
    return out

  def _apply(self, params, alphas, obs, noise_key=None):
    if self.net.noisy and noise_key is not None:
      return self._net(
        {"params": params}, obs, alphas, deterministic=False, rngs={"noise": noise_key}
      )
    return self._net({"params": params}, obs, alphas)

  # -- acting
  def epsilons(self, env_steps: int) -> np.ndarray:
    """[N] training epsilons of the run's env rows at `env_steps` (Ape-X ladder + schedule)."""
    e = self.config.rainbow.exploration
    horizon = e.decay_env_steps or self.config.loop.total_env_steps
    return scheduled_epsilons(
      self._ladder, int(env_steps), e.schedule, e.eps_start, horizon, e.decay_power
    )

  def act(self, learner: RainbowLearner, obs, keys, epsilons):
    """epsilon-greedy in the expected Q, per row; noisy nets draw the head's noise from the
    device's first row key (one draw per device and step). -> (actions [n], {})."""
    noise = jax.random.fold_in(keys[0], 1) if self.net.noisy else None
    logits = self._apply(learner.params, learner.alphas, obs, noise)
    greedy = jnp.argmax(q_values(logits, self.atoms), axis=-1).astype(jnp.int32)
    draw = jax.vmap(lambda k: jax.random.split(k))(keys)  # [n, 2] keys per row
    u = jax.vmap(jax.random.uniform)(draw[:, 0])
    random = jax.vmap(lambda k: jax.random.randint(k, (), 0, self.num_actions, jnp.int32))(
      draw[:, 1]
    )
    return jnp.where(u < epsilons, random, greedy), {}

  def eval_act(self, learner: RainbowLearner, obs, keys):
    """Greedy (epsilon 0) with the noise-free head."""
    del keys
    logits = self._apply(learner.params, learner.alphas, obs)
    return jnp.argmax(q_values(logits, self.atoms), axis=-1).astype(jnp.int32)

  # -- replay
  def _empty_record(self):
    return {
      "obs": jnp.zeros(self.spec.observation_shape, jnp.uint8),
      "action": jnp.zeros((), jnp.int32),
      "reward": jnp.zeros((), jnp.float32),
      "terminated": jnp.zeros((), jnp.bool_),
      "game_id": jnp.zeros((), jnp.int32),
    }

  def _add_fn(self, buffer, obs, actions, rewards, terminated, game_ids):
    """One device's rollout [T, n, ...] (rewards already max-reward normalized) -> appended
    as [n, T] records (rows = envs)."""
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    records = {
      "obs": swap(obs),
      "action": swap(actions).astype(jnp.int32),
      "reward": swap(rewards),
      "terminated": swap(terminated),
      "game_id": jnp.broadcast_to(game_ids[:, None], terminated.shape[::-1]),
    }
    return self.replay.add(buffer, records)

  def add(self, state: AgentState, obs, actions, rewards, terminated) -> AgentState:
    """Appends this process's rollout to its devices' shards: obs / actions on the devices
    [L, T, n, ...]; raw rewards and episode ends on the host [L, T, n]. Rewards are divided by
    each row's game max reward here, once."""
    d = self.devices
    replay = state.replay if state.replay is not None else self.empty_replay()
    scaled = (rewards / self._row_scale[:, None, :]).astype(np.float32)
    game_ids = self.spec.game_ids.reshape(d.count, -1)[d.first : d.first + d.local_count]
    buffer = self._add(
      replay.buffer, obs, actions, d.put(scaled), d.put(terminated), d.put(game_ids)
    )
    steps = rewards.shape[1] * self.spec.num_envs
    return state._replace(replay=replay_lib.ReplayState(buffer, replay.env_steps + steps))

  # -- one iteration
  def collect(self, state: AgentState, actors, key):
    """rollout_steps epsilon-greedy steps of every env (each env's epsilon at the state's
    env step)."""
    d = self.devices
    eps = self.epsilons(state.host.env_steps).reshape(d.count, -1)[
      d.first : d.first + d.local_count
    ]
    return actors.rollout(
      self.act, self.acting(state.learner), self.config.rainbow.rollout_steps, key, d.put(eps)
    )

  def learn(self, state: AgentState, ro, key):
    """Appends the rollout to the replay, then (after learning_starts) updates_per_iteration
    prioritized updates -> (state, metrics on the devices; {} before learning starts)."""
    c = self.config.rainbow
    d = self.devices
    state = self.add(state, ro.obs, ro.actions, ro.rewards, ro.terminated | ro.truncated)
    state = state._replace(
      host=RainbowHost(np.int64(state.host.env_steps + self.env_steps_per_iteration))
    )
    if state.replay.env_steps < self.learning_starts:
      return state, {}
    learner, buffer = state.learner, state.replay.buffer
    ms = []
    updates = self._learn.count(learner.arch_opt_state)
    for i, k in enumerate(update_keys(key, c.updates_per_iteration)):
      learner, buffer, m = self._learn(updates + i, learner, buffer, d.broadcast(k))
      ms.append(m)
    return (
      state._replace(learner=learner, replay=state.replay._replace(buffer=buffer)),
      mean_metrics(ms, d),
    )

  def sample(self, buffer, key) -> Batches:
    """One device's share of a learner update: Batches of Transitions (alternating mode: an
    independent second draw for the alphas), plus the weight batch's item indices."""
    c = self.config.rainbow

    def draw(k):
      windows, indices, probs = self.replay.sample(buffer, k)
      w = importance_weights(probs, c.importance_exponent, parallel.AXIS)
      return transition_from_window(windows, c.gamma, w), indices

    k_w, k_a = jax.random.split(key)
    batch, indices = draw(k_w)
    arch = draw(k_a)[0] if self.opt.needs_arch_batch else None
    return Batches(batch, arch), indices

  def _loss(self, params, alphas, data):
    b, (target_params, target_alphas), key = data["batch"], data["target"], data["key"]
    k_tm1, k_t, k_sel = jax.random.split(key, 3)
    logits_tm1 = self._apply(params, alphas, b.obs_tm1, k_tm1)
    logits_t = self._apply(target_params, target_alphas, b.obs_t, k_t)
    selector = q_values(self._apply(params, alphas, b.obs_t, k_sel), self.atoms)
    ce = categorical_double_q_loss(
      logits_tm1,
      b.a_tm1,
      b.r_t,
      b.discount_t,
      jax.lax.stop_gradient(logits_t),
      jax.lax.stop_gradient(selector),
      self.atoms,
    )
    q_tm1 = q_values(logits_tm1, self.atoms)
    q_a = jnp.take_along_axis(q_tm1, b.a_tm1[:, None], axis=-1)[:, 0]
    return jnp.mean(b.weight * ce), {"ce": ce, "q_taken": jnp.mean(q_a)}

  def update(self, learner: RainbowLearner, batches: Batches, key, probe=None):
    """One learner update on one device's share of the batch (inside the device-mapped step):
    -> (learner, metrics, new priorities [B / devices] of the weight batch's items); `probe` as
    in DualOptimizer.update."""
    c = self.config.rainbow
    target = (learner.target_params, learner.target_alphas)
    # The per-sample noise keys depend on the device (its own samples); the optimizer's key
    # does not (identical updates on every device).
    sample_key = jax.random.fold_in(key, jax.lax.axis_index(parallel.AXIS))
    data = {"batch": batches.weights, "target": target, "key": sample_key}
    arch_data = {
      "batch": batches.alphas if batches.alphas is not None else batches.weights,
      "target": target,
      "key": jax.random.fold_in(sample_key, 1),
    }
    dual, aux = self.opt.update(
      self._loss, optim.DualState.of(learner), data, arch_data, parallel.AXIS, key, probe
    )
    params, alphas = dual.params, dual.alphas
    updates = learner.updates + 1
    target_params = optax.periodic_update(
      params, learner.target_params, updates, c.target_update_period
    )
    target_alphas = optax.periodic_update(
      alphas, learner.target_alphas, updates, c.target_update_period
    )
    ce = aux.pop("ce")
    metrics = {f"loss/{k}": v for k, v in aux.items() if k != "q_taken"}
    metrics["loss/ce"] = jnp.mean(ce)
    metrics["q/taken"] = aux["q_taken"]
    metrics["replay/is_weight_mean"] = jnp.mean(batches.weights.weight)
    metrics["replay/return_mean"] = jnp.mean(batches.weights.r_t)
    new = dual.into(learner)._replace(
      target_params=target_params, target_alphas=target_alphas, updates=updates
    )
    return new, parallel.pmean(metrics), jax.lax.stop_gradient(ce) + c.priority_epsilon

  def _learn_fn(self, learner: RainbowLearner, buffer, key, probe=False):
    """Sample from this device's shard, update, write back the new priorities."""
    k_sample, k_update = jax.random.split(key)
    batches, indices = self.sample(
      buffer, jax.random.fold_in(k_sample, jax.lax.axis_index(parallel.AXIS))
    )
    learner, metrics, priorities = self.update(learner, batches, k_update, probe)
    return learner, self.replay.set_priorities(buffer, indices, priorities), metrics
