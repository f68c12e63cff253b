"""SAC from pixels (DrQ / SAC-AE style) with a searchable encoder, for DM-Control.

Twin critics on one shared image encoder, target critic + target encoder tracked by soft update
(tau), a tanh-Gaussian actor on stop-gradient features of the critic's encoder, and a learned
temperature with target entropy -|A|/2. The encoder and its alphas are trained by the critic
loss only (docs/paper.md), through `optim.DualOptimizer` (joint or alternating). Observations
(current and next, independently) get a random shift: replicate-pad 4 px, random crop back.

Replay (darts_rl/agents/replay.py): a uniform flashbax item buffer per device, holding that
device's env group's transitions, explicit state NOT checkpointed (100k x 84x84x9 uint8 is 6+
GB). A resumed run therefore starts with an empty buffer: updates restart once
`learning_starts` new env steps were collected; the uniform-random warm-up
(`init_random_env_steps`) counts env steps over the whole run (it is in the host state) and is
not repeated. Each transition stores obs and only the newest frame of the next observation:
with frame stacking, next_obs[..., :-3] == obs[..., 3:] (the env contract). Each learner update
is one device-mapped call: every device samples batch_size / devices transitions from its shard.

Bootstrapping: discount 0 only where the episode terminated; where it was truncated by the time
limit the target bootstraps from `final_obs` (the env's last frame stack), never from the first
observation of the next episode.

Math at module level (random_shift, tanh_gaussian_sample, soft_td_target, the three losses,
soft_update) is tested against hand-computed numbers in tests/test_sac.py.
"""

from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

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

FRAME_CHANNELS = 3  # RGB frames are stacked on the channel axis
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0


# ---------------------------------------------------------------------------- learning math


def random_shift(key, obs, pad: int = 4, first_index=0):
  """Random-shift augmentation (DrQ, Kostrikov et al. 2020): replicate-pad `pad` px, crop back.

  obs: [B, H, W, C] (uint8 or float) -> same shape and dtype. Sample i is shifted by
  (dy, dx) in [-pad, pad]^2 drawn from fold_in(key, first_index + i); the whole channel stack
  (every stacked frame) of a sample gets the same shift. `first_index` is the global index of
  row 0, so a batch split over devices draws the same shifts as the whole batch on one device.
  """
  b, h, w, c = obs.shape
  padded = jnp.pad(obs, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
  idx = first_index + jnp.arange(b)
  offsets = jax.vmap(
    lambda i: jax.random.randint(jax.random.fold_in(key, i), (2,), 0, 2 * pad + 1)
  )(idx)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, c))
  return jax.vmap(crop)(padded, offsets)


def per_sample_keys(key, n: int, first_index=0):
  """[n] keys, row i from fold_in(key, first_index + i) (device-count invariant)."""
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first_index + jnp.arange(n))


def tanh_gaussian_log_prob(u, mu, log_std):
  """log pi(tanh(u)) for u ~ N(mu, exp(log_std)^2) per dimension; [..., A] -> [...].

  Change of variables: log N(u) - sum log(1 - tanh(u)^2), with the stable identity
  log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) (Haarnoja et al. 2018, appendix C).
  """
  z = (u - mu) * jnp.exp(-log_std)
  normal = -0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi)
  correction = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
  return jnp.sum(normal - correction, axis=-1)


def tanh_gaussian_sample(key, mu, log_std):
  """Reparameterized sample: mu, log_std [..., A] -> (action tanh(u) [..., A], log_prob [...])."""
  u = mu + jnp.exp(log_std) * jax.random.normal(key, mu.shape)
  return jnp.tanh(u), tanh_gaussian_log_prob(u, mu, log_std)


def soft_td_target(r_t, discount_t, q1_t, q2_t, logp_t, temperature):
  """Soft Bellman target y = r_t + discount_t (min(q1_t, q2_t) - temperature logp_t).

  All [B]. discount_t = gamma * (1 - terminated_t); q*_t from the target critic at the next
  observation and an action a_t ~ pi(.|s_t) with log-probability logp_t.
  """
  return r_t + discount_t * (jnp.minimum(q1_t, q2_t) - temperature * logp_t)


def critic_loss(q1_tm1, q2_tm1, target, weight: float = 0.5):
  """weight * (MSE(q1, y) + MSE(q2, y)); y is not differentiated. [B] -> scalar.

  weight 0.5 is the released (tf_agents) critic_loss_weight."""
  target = jax.lax.stop_gradient(target)
  return weight * (jnp.mean((q1_tm1 - target) ** 2) + jnp.mean((q2_tm1 - target) ** 2))


def actor_loss(q1, q2, logp, temperature):
  """mean(temperature * logp - min(q1, q2)) over [B] (SAC policy objective)."""
  return jnp.mean(temperature * logp - jnp.minimum(q1, q2))


def temperature_loss(log_temperature, logp, target_entropy):
  """mean(-log_temperature * (logp + target_entropy)); logp is not differentiated.

  Its gradient raises the temperature while the policy entropy -logp is below the target."""
  return jnp.mean(-log_temperature * jax.lax.stop_gradient(logp + target_entropy))


def soft_update(target, online, tau: float):
  """Polyak averaging: target <- (1 - tau) target + tau online, leaf by leaf."""
  return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


# ---------------------------------------------------------------------------- networks

_dense = lambda n, name: nn.Dense(n, kernel_init=nn.initializers.xavier_uniform(), name=name)


def _mlp(x, hidden: Sequence[int], prefix: str):
  for i, width in enumerate(hidden):
    x = nn.relu(_dense(width, f"{prefix}{i}")(x))
  return x


class DoubleQ(nn.Module):
  """Twin Q heads: (features [B, D], action [B, A]) -> (q1 [B], q2 [B])."""

  hidden: Sequence[int]

  @nn.compact
  def __call__(self, features, action):
    x = jnp.concatenate([features, action], axis=-1)
    return tuple(_dense(1, f"q{k}_out")(_mlp(x, self.hidden, f"q{k}_"))[:, 0] for k in (1, 2))


class Critic(nn.Module):
  """encoder(obs, alphas) -> features; DoubleQ(features, action). Params {'encoder', 'q'}."""

  encoder: nn.Module
  hidden: Sequence[int]

  def setup(self):
    """The Q heads (the encoder is a field)."""
    self.q = DoubleQ(self.hidden)

  def __call__(self, obs, action, alphas):
    return self.q(self.encoder(obs, alphas), action)

  def encode(self, obs, alphas):
    """obs [B, H, W, C] uint8 -> features [B, D]."""
    return self.encoder(obs, alphas)

  def q_values(self, features, action):
    """(features [B, D], action [B, A]) -> (q1 [B], q2 [B])."""
    return self.q(features, action)


class Actor(nn.Module):
  """features [B, D] -> (mu [B, A], log_std [B, A] in [LOG_STD_MIN, LOG_STD_MAX])."""

  hidden: Sequence[int]
  action_dim: int

  @nn.compact
  def __call__(self, features):
    h = _mlp(features, self.hidden, "fc")
    mu = _dense(self.action_dim, "mu")(h)
    # Smooth squashing of log_std into its range (SAC-AE / DrQ) keeps gradients everywhere.
    log_std = jnp.tanh(_dense(self.action_dim, "log_std")(h))
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)
    return mu, log_std


# ---------------------------------------------------------------------------- state


class Transition(NamedTuple):
  """One replayed transition (leading batch axes on every field)."""

  obs: Any  # [..., H, W, C] uint8 frame stack acted on
  action: Any  # [..., A] float32
  reward: Any  # [...] float32 (summed over action repeats)
  discount: Any  # [...] float32: 0 where terminated, else 1 (gamma applied in the loss)
  next_frame: Any  # [..., H, W, 3] uint8 newest frame of the next obs (final_obs if done)


class SACLearner(NamedTuple):
  """What the SAC learner updates; replicated on every device."""

  params: Any  # critic {'encoder', 'q'}: trained by the critic loss
  alphas: Any  # architecture weights: trained by the critic loss too
  opt_state: Any
  arch_opt_state: Any
  target_params: Any  # soft-updated copies of params and alphas (target encoder)
  target_alphas: Any
  actor_params: Any
  actor_opt_state: Any
  log_temperature: Any  # scalar
  temperature_opt_state: Any


class SACHost(NamedTuple):
  """Host state, identical on every process."""

  env_steps: np.ndarray  # env steps of the run (uniform actions below the warm-up)


class SAC(AgentBase):
  """Off-policy agent: one iteration = one vectorized env step + `updates_per_iteration`
  updates (once `learning_starts` env steps are in the replay)."""

  # The policy reads the critic's encoder (params, alphas) and the actor head.
  acting_fields = ("params", "alphas", "actor_params")

  def __init__(self, config, encoder_spec, spec: EnvSpec, devices: parallel.Devices):
    c = config.sac
    if not hasattr(spec.action_spec, "low"):  # envs.BoxActions (not imported: no env deps)
      raise ValueError(
        "SAC needs continuous (box) actions, e.g. DM-Control; use PPO or "
        "Rainbow for discrete actions"
      )
    if spec.observation_shape[-1] % FRAME_CHANNELS:
      raise ValueError(f"SAC expects stacked RGB frames, got {spec.observation_shape[-1]} channels")
    if c.replay_capacity % spec.num_envs:
      raise ValueError(
        f"sac.replay_capacity={c.replay_capacity} must be a multiple of "
        f"env.num_envs={spec.num_envs}"
      )
    if c.batch_size % devices.count:
      raise ValueError(
        f"sac.batch_size={c.batch_size} must be a multiple of the number of "
        f"devices ({devices.count}): each samples an equal share"
      )
    if c.batch_size > c.replay_capacity:
      raise ValueError(
        f"sac.batch_size={c.batch_size} exceeds sac.replay_capacity={c.replay_capacity}"
      )
    self.config = config
    self.spec = spec
    self.devices = devices
    self.action_spec = spec.action_spec
    self.action_dim = int(np.prod(spec.action_spec.shape))
    self.target_entropy = -c.target_entropy_scale * self.action_dim
    self.init_alphas = encoder_spec.alphas
    self.critic = Critic(encoder_spec.module, tuple(c.hidden))
    self.actor = Actor(tuple(c.hidden), self.action_dim)
    self.arch_plan = (spec.num_envs, c.updates_per_iteration, c.learning_starts)
    self.opt = optim.DualOptimizer.from_config(
      c.critic_optimizer,
      config.arch,
      arch_updates(config, *self.arch_plan),
      temperature=config.encoder.temperature,
    )
    self.actor_tx = optim.make_optimizer(c.actor_optimizer)
    self.temperature_tx = optim.make_optimizer(c.temperature_optimizer)
    self.env_steps_per_iteration = spec.num_envs
    h, w, _ = spec.observation_shape
    example = Transition(
      jnp.zeros(spec.observation_shape, jnp.uint8),
      jnp.zeros((self.action_dim,), jnp.float32),
      jnp.zeros((), jnp.float32),
      jnp.zeros((), jnp.float32),
      jnp.zeros((h, w, FRAME_CHANNELS), jnp.uint8),
    )
    self.replay = replay_lib.ItemReplay(
      c.replay_capacity // devices.count,
      spec.envs_per_group,
      c.batch_size // devices.count,
      example,
    )
    d = devices
    self._init = jax.jit(self._init_fn)
    # The network jitted inside the compiled steps: traced once per input shape in this process,
    # however many steps and calls use it (the update encodes four batches of one shape; acting
    # and evaluation share theirs). XLA inlines the call, so the steps compute what they would
    # with it traced in place.
    self._features = jax.jit(self._encode_fn)
    self._new_replay = d.compile(lambda _: self.replay.init())
    self._add = d.compile(self._add_fn, donate=(0,))
    self._learn = optim.ProbedStep(self.opt, d, self._learn_fn, donate=(0,))

  # -- state
  def init(self, key) -> AgentState:
    """Fresh critic (its target a copy), actor, temperature and their optimizer states."""
    return AgentState(self._init(key), SACHost(np.int64(0)))

  def _init_fn(self, key) -> SACLearner:
    k_critic, k_actor = jax.random.split(key)
    obs = jnp.zeros((1,) + self.spec.observation_shape, jnp.uint8)
    action = jnp.zeros((1, self.action_dim), jnp.float32)
    params = self.critic.init(k_critic, obs, action, self.init_alphas)["params"]
    actor_params = self.actor.init(k_actor, self._features(params, self.init_alphas, obs))["params"]
    log_temp = jnp.asarray(np.log(self.config.sac.init_temperature), jnp.float32)
    dual = self.opt.init(params, self.init_alphas)
    return SACLearner(
      *dual,
      params,
      self.init_alphas,
      actor_params,
      self.actor_tx.init(actor_params),
      log_temp,
      self.temperature_tx.init(log_temp),
    )

  def empty_replay(self) -> replay_lib.ReplayState:
    """An empty replay shard on every local device."""
    d = self.devices
    return replay_lib.ReplayState(self._new_replay(d.put(np.zeros((d.local_count,)))), 0)

  def log_scalars(self, state: AgentState):
    """Env steps in the replay."""
    return {} if state.replay is None else {"replay/env_steps": float(state.replay.env_steps)}

  # -- acting
  def _encode_fn(self, params, alphas, obs):
    """obs [B, H, W, C] -> the critic's encoder features [B, D] (`_features`: jitted)."""
    return self.critic.apply({"params": params}, obs, alphas, method=Critic.encode)

  def _policy(self, learner: SACLearner, obs):
    return self.actor.apply(
      {"params": learner.actor_params}, self._features(learner.params, learner.alphas, obs)
    )

  def act(self, learner: SACLearner, obs, keys, uniform):
    """A policy sample per row, or (`uniform` true: the warm-up) a uniform random action.
    -> (actions [n, A], {})."""
    mu, log_std = self._policy(learner, obs)
    k_pi = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
    k_uni = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    sample = jax.vmap(tanh_gaussian_sample)(k_pi, mu, log_std)[0]
    spec = self.action_spec
    rand = jax.vmap(
      lambda k: jax.random.uniform(k, (self.action_dim,), jnp.float32, spec.low, spec.high)
    )(k_uni)
    actions = jnp.where(uniform, rand, sample)
    return actions.reshape((-1,) + tuple(spec.shape)), {}

  def eval_act(self, learner: SACLearner, obs, keys):
    """The mean action tanh(mu)."""
    del keys
    mu, _ = self._policy(learner, obs)
    return jnp.tanh(mu).reshape((-1,) + tuple(self.action_spec.shape))

  # -- replay
  def _add_fn(self, buffer, obs, actions, rewards, discounts, next_frames):
    """One device's step: obs [1, n, ...], actions [1, n, ...]; rewards, discounts [n];
    next_frames [n, H, W, 3]."""
    n = rewards.shape[0]
    items = Transition(
      obs[0], actions[0].reshape(n, -1).astype(jnp.float32), rewards, discounts, next_frames
    )
    return self.replay.add(buffer, items)

  def add(self, state: AgentState, rollout) -> AgentState:
    """Appends a one-step rollout (darts_rl.train.actors.Rollout) to the devices' shards.
    Rows whose episode ended bootstrap from the episode's last frame stack (final_obs)."""
    if rollout.final_obs is None:
      raise ValueError("SAC needs envs that report final_obs (DM-Control)")
    d = self.devices
    replay = state.replay if state.replay is not None else self.empty_replay()
    discounts = 1.0 - rollout.terminated[:, 0].astype(np.float32)
    buffer = self._add(
      replay.buffer,
      rollout.obs,
      rollout.actions,
      d.put(rollout.rewards[:, 0]),
      d.put(discounts),
      d.put(np.ascontiguousarray(rollout.final_obs[:, 0, ..., -FRAME_CHANNELS:])),
    )
    return state._replace(
      replay=replay_lib.ReplayState(buffer, replay.env_steps + self.spec.num_envs)
    )

  # -- one iteration
  def collect(self, state: AgentState, actors, key):
    """One step of every env: a policy sample, or a uniform action during the warm-up."""
    warmup = int(state.host.env_steps) < self.config.sac.init_random_env_steps
    return actors.rollout(
      self.act, self.acting(state.learner), 1, key, self.devices.broadcast(warmup)
    )

  def learn(self, state: AgentState, ro, key):
    """Appends the step to the replay, then (after learning_starts) updates_per_iteration
    updates -> (state, metrics on the devices; {} before learning starts)."""
    c = self.config.sac
    d = self.devices
    state = self.add(state, ro)
    state = state._replace(host=SACHost(np.int64(int(state.host.env_steps) + self.spec.num_envs)))
    if state.replay.env_steps < c.learning_starts:
      return state, {}
    learner = state.learner
    ms = []
    updates = self._learn.count(learner.arch_opt_state)
    for i, k in enumerate(update_keys(key, c.updates_per_iteration)):
      learner, m = self._learn(updates + i, learner, state.replay.buffer, d.broadcast(k))
      ms.append(m)
    return state._replace(learner=learner), mean_metrics(ms, d)

  def sample(self, buffer, key) -> Batches:
    """One device's share of an update: Batches of Transitions (alternating mode: an
    independent second draw for the alphas)."""
    k_w, k_a = jax.random.split(key)
    arch = self.replay.sample(buffer, k_a) if self.opt.needs_arch_batch else None
    return Batches(self.replay.sample(buffer, k_w), arch)

  def _learn_fn(self, learner: SACLearner, buffer, key, probe=False):
    k_sample, k_update = jax.random.split(key)
    batches = self.sample(buffer, jax.random.fold_in(k_sample, jax.lax.axis_index(parallel.AXIS)))
    return self.update(learner, batches, k_update, probe)

  def actor_loss_fn(self, actor_params, params, alphas, obs, keys, log_temperature):
    """Actor objective on augmented obs [B, H, W, C]; keys [B] sample the actions.

    The features are stop-gradient: the actor never trains the encoder or the alphas, and the
    Q heads are not differentiated here either (only actor_params are updated with it)."""
    feats = jax.lax.stop_gradient(self._features(params, alphas, obs))
    mu, log_std = self.actor.apply({"params": actor_params}, feats)
    action, logp = jax.vmap(tanh_gaussian_sample)(keys, mu, log_std)
    q1, q2 = self.critic.apply({"params": params}, feats, action, method=Critic.q_values)
    temperature = jnp.exp(jax.lax.stop_gradient(log_temperature))
    return actor_loss(q1, q2, logp, temperature), logp

  def update(self, learner: SACLearner, batches: Batches, key, probe=None):
    """One critic (+ alphas), actor and temperature step and a target soft update on one
    device's share of the batch (inside the device-mapped step) -> (learner, metrics);
    `probe` as in DualOptimizer.update."""
    c = self.config.sac
    pad = c.shift_pad
    n = batches.weights.reward.shape[0]
    first = parallel.axis_offset(n)
    k_main, k_arch, k_actor = jax.random.split(key, 3)
    params, alphas = learner.params, learner.alphas
    target_params, target_alphas = learner.target_params, learner.target_alphas
    actor_params, actor_opt_state = learner.actor_params, learner.actor_opt_state
    log_temp, temp_opt_state = learner.log_temperature, learner.temperature_opt_state
    temperature = jnp.exp(log_temp)

    def prepare(tr: Transition, key):
      """Augments obs and the rebuilt next obs independently; per-sample noise keys."""
      k_obs, k_next, k_pi = jax.random.split(key, 3)
      next_obs = jnp.concatenate([tr.obs[..., FRAME_CHANNELS:], tr.next_frame], axis=-1)
      return {
        "obs": random_shift(k_obs, tr.obs, pad, first),
        "action": tr.action,
        "reward": tr.reward,
        "discount": tr.discount,
        "next_obs": random_shift(k_next, next_obs, pad, first),
        "keys": per_sample_keys(k_pi, n, first),
      }

    def with_target(mb):
      # Next action from the online encoder + actor; values from the target critic.
      next_feats = self._features(params, alphas, mb["next_obs"])
      mu, log_std = self.actor.apply({"params": actor_params}, next_feats)
      next_a, next_logp = jax.vmap(tanh_gaussian_sample)(mb["keys"], mu, log_std)
      t_feats = self._features(target_params, target_alphas, mb["next_obs"])
      tq1, tq2 = self.critic.apply(
        {"params": target_params}, t_feats, next_a, method=Critic.q_values
      )
      y = soft_td_target(mb["reward"], c.gamma * mb["discount"], tq1, tq2, next_logp, temperature)
      return dict(mb, target=jax.lax.stop_gradient(y))

    mb = with_target(prepare(batches.weights, k_main))
    arch_mb = mb if batches.alphas is None else with_target(prepare(batches.alphas, k_arch))

    def loss_fn(p, a, data):
      q1, q2 = self.critic.apply(
        {"params": p}, self._features(p, a, data["obs"]), data["action"], method=Critic.q_values
      )
      loss = critic_loss(q1, q2, data["target"], c.critic_loss_weight)
      return loss, {
        "critic_loss": loss,
        "q": jnp.mean(jnp.minimum(q1, q2)),
        "target_q": jnp.mean(data["target"]),
      }

    dual, aux = self.opt.update(
      loss_fn, optim.DualState.of(learner), mb, arch_mb, parallel.AXIS, key, probe
    )
    params, alphas = dual.params, dual.alphas

    # Actor and temperature on the updated critic's (stop-gradient) features.
    actor_keys = per_sample_keys(k_actor, n, first)
    (a_loss, logp), g = jax.value_and_grad(self.actor_loss_fn, has_aux=True)(
      actor_params, params, alphas, mb["obs"], actor_keys, log_temp
    )
    g = parallel.pmean(g)
    updates, actor_opt_state = self.actor_tx.update(g, actor_opt_state, actor_params)
    actor_params = optax.apply_updates(actor_params, updates)
    t_loss, gt = jax.value_and_grad(temperature_loss)(log_temp, logp, self.target_entropy)
    gt = parallel.pmean(gt)
    updates, temp_opt_state = self.temperature_tx.update(gt, temp_opt_state, log_temp)
    log_temp = optax.apply_updates(log_temp, updates)

    target_params = soft_update(target_params, params, c.tau)
    target_alphas = soft_update(target_alphas, alphas, c.tau)
    metrics = {
      "loss/critic": aux["critic_loss"],
      "loss/actor": a_loss,
      "loss/temperature": t_loss,
      "q/mean": aux["q"],
      "q/target": aux["target_q"],
      "grad_norm/critic": aux["grad_norm"],
      "grad_norm/arch": aux["arch_grad_norm"],
      "grad_norm/actor": optax.tree.norm(g),
      "temperature": jnp.exp(log_temp),
      "entropy": -jnp.mean(logp),
    }
    new = SACLearner(
      *dual,
      target_params,
      target_alphas,
      actor_params,
      actor_opt_state,
      log_temp,
      temp_opt_state,
    )
    return new, parallel.pmean(metrics)
