"""Rainbow (C51 + dueling + double Q + n-step + prioritized replay) with a searchable encoder.

Hessel et al. 2018, "Rainbow"; Bellemare et al. 2017 (C51); hyperparameters as released by
RL-DARTS (REFERENCE.md §3): 51 atoms on [0, 1] with rewards divided by the game's max reward,
n = 7, gamma 0.99, Adam 5e-5, batch 256, replay 500k, priority exponent 0.8, IS exponent 0.2,
target update every 500 learner steps, Ape-X per-actor epsilons, greedy evaluation.

One `iteration` = `rollout_steps` vectorized env steps (epsilon-greedy, per-env epsilons) that
are appended to the replay, then `updates_per_iteration` learner updates once the replay holds
`learning_starts` env steps. The supernet acts during search; its alphas are trained by the same
C51 loss through `optim.DualOptimizer` (joint or alternating). The learner step is data-parallel over
the sampled batch (axis 0) by `parallel.make_step`.

Replay layout: a flashbax prioritised *trajectory* buffer with one row per env. Each row stores
per-step records (obs_t, a_t, r_{t+1}, terminated_{t+1}, game id) so every observation is kept
once; a sampled item is a window of n + 1 consecutive records from which `n_step_transition`
assembles (s_tm1, a_tm1, r_t, discount_t, s_t). An episode end inside the window cuts the return
and the bootstrap (Procgen reports every episode end as `terminated`; a `truncated` end, which
Procgen never produces, is treated the same because the env gives no final observation here).

The replay buffer lives in the agent object, NOT in the checkpointed state (it would be GBs: 500k
64x64x3 frames are 6 GB). On resume the buffer starts empty, refills, and learning restarts after
`learning_starts` new env steps; params, target params, optimizer states, alphas and the env-step
counter (epsilon schedule) are restored from the checkpoint.

Math at module level (n_step_transition, categorical_double_q_loss, importance_weights,
apex_epsilons, actor_epsilons) is tested against hand-computed numbers.
"""
import collections
import math
from typing import Any, NamedTuple, Optional

import flashbax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from darts_rl import parallel
from darts_rl.agents import optim
from darts_rl.agents import replay

EPSILON_SCHEDULES = ("constant", "linear")
# Episodes per game in the running `train/normalized_return`.
NORMALIZED_RETURN_WINDOW = 100


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
  return r_t, (gamma ** n) * alive_after[..., -1]


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
      atoms, lt, a, r, d, atoms, ltt, sel)
  return jax.vmap(f)(logits_tm1, a_tm1, r_t, discount_t, logits_t, q_t_selector)


def importance_weights(probabilities, exponent: float):
  """PER importance-sampling weights (Schaul et al. 2016) normalized by the batch max.

  probabilities [B] sampling probabilities; w_i = (N P_i)^-exponent / max_j w_j, in which the
  buffer size N cancels.
  """
  w = jnp.maximum(probabilities, 1e-12) ** (-exponent)
  return w / jnp.max(w)


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


def scheduled_epsilons(ladder, env_steps: int, schedule: str, start: float,
                       decay_env_steps: int) -> np.ndarray:
  """constant: the ladder; linear: from `start` down to the ladder over `decay_env_steps`."""
  if schedule == "constant":
    return ladder
  frac = min(1.0, env_steps / max(decay_env_steps, 1))
  return ((1.0 - frac) * start + frac * np.asarray(ladder, np.float64)).astype(np.float32)


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

class RainbowState(NamedTuple):
  params: Any
  target_params: Any
  alphas: Any
  target_alphas: Any
  opt_state: Any
  arch_opt_state: Any
  learner_updates: Any      # int32 scalar: learner steps so far (target-update clock)
  env_steps: np.ndarray     # int64 scalar, host: env steps so far (epsilon schedule)


class Transition(NamedTuple):
  """An n-step transition batch; every field has leading axis B."""
  obs_tm1: Any       # [B, H, W, C] uint8
  a_tm1: Any         # [B] int32
  r_t: Any           # [B] n-step return of max-reward-normalized rewards
  discount_t: Any    # [B] gamma^n, or 0 when the episode ended inside the window
  obs_t: Any         # [B, H, W, C] uint8 bootstrap observation
  game_id: Any       # [B] int32
  weight: Any        # [B] importance-sampling weight


def transition_from_window(window, gamma: float, weight) -> Transition:
  """window: replay records [B, n + 1] (obs, action, reward, terminated, game_id) -> Transition."""
  n = window["action"].shape[1] - 1
  r_t, discount_t = n_step_transition(window["reward"][:, :n], window["terminated"][:, :n], gamma)
  return Transition(window["obs"][:, 0], window["action"][:, 0], r_t, discount_t,
                    window["obs"][:, n], window["game_id"][:, 0], weight)


def _strong(tree):
  """Drops weak types (flashbax returns some weakly typed scalars and strengthens them later,
  which would recompile every jitted buffer function once more)."""
  return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), tree)



class Rainbow:
  """Off-policy agent: one iteration = `rollout_steps` vectorized env steps into the replay,
  then `updates_per_iteration` prioritized learner updates (after `learning_starts`)."""

  def __init__(self, config, encoder_spec, env, devices: Optional[int] = None):
    """env: the training VecEnv (only its shapes, game ids and reward scales are read)."""
    c = config.rainbow
    if not hasattr(env.action_spec, "num_actions"):
      raise ValueError("Rainbow needs discrete actions (Procgen); use SAC for DM-Control")
    if c.exploration.schedule not in EPSILON_SCHEDULES:
      raise ValueError(f"unknown rainbow.exploration.schedule '{c.exploration.schedule}'; "
                       f"valid: {', '.join(EPSILON_SCHEDULES)}")
    if c.v_max <= c.v_min or c.num_atoms < 2:
      raise ValueError(f"rainbow support needs v_max > v_min and num_atoms >= 2, got "
                       f"[{c.v_min}, {c.v_max}] with {c.num_atoms} atoms")
    self.config = config
    self.num_envs = env.num_envs
    self.obs_shape = tuple(env.observation_shape)
    self.num_actions = env.action_spec.num_actions
    self.game_ids = np.asarray(env.game_ids, np.int32)
    self.game_names = tuple(env.game_names)
    self.reward_scale = np.asarray(env.reward_scale, np.float32)
    if np.any(self.reward_scale <= 0):
      raise ValueError(f"reward scales must be positive, got {self.reward_scale}")
    self._row_scale = self.reward_scale[self.game_ids]
    self.atoms = jnp.linspace(c.v_min, c.v_max, c.num_atoms, dtype=jnp.float32)
    self.init_alphas = encoder_spec.alphas
    self.net = RainbowNetwork(encoder_spec.module, self.num_actions, c.num_atoms, c.hidden,
                              c.dueling, c.noisy, c.noisy_sigma0)
    self.opt = optim.DualOptimizer(optim.make_optimizer(c.optimizer), config.arch)
    self.env_steps_per_iteration = c.rollout_steps * self.num_envs
    e = c.exploration
    self._ladder = actor_epsilons(self.game_ids, e.eps_base, e.eps_alpha)

    # Replay: one row per env, windows of n + 1 records (see module doc).
    self.row_length = c.replay_capacity // self.num_envs
    if self.row_length < max(c.n_step + 2, c.rollout_steps):
      raise ValueError(f"rainbow.replay_capacity={c.replay_capacity} gives {self.row_length} "
                       f"steps per env; need at least n_step + 2 = {c.n_step + 2} and "
                       f"rollout_steps = {c.rollout_steps}")
    # Learning needs a full window in every row (flashbax masks windows at the write head).
    self.learning_starts = max(int(c.learning_starts), (c.n_step + 2) * self.num_envs)
    backend = jax.default_backend()
    self.buffer = flashbax.make_prioritised_trajectory_buffer(
        add_batch_size=self.num_envs, sample_batch_size=c.batch_size,
        sample_sequence_length=c.n_step + 1, period=1, min_length_time_axis=c.n_step + 1,
        max_length_time_axis=self.row_length, priority_exponent=c.priority_exponent,
        device=backend if backend in ("cpu", "gpu", "tpu") else "cpu")
    self.buffer_state = None          # created on the first iteration (not checkpointed)
    self.buffer_env_steps = 0         # env steps added to the buffer by this process
    self._recent = [collections.deque(maxlen=NORMALIZED_RETURN_WINDOW) for _ in self.game_names]

    self._act = jax.jit(self._act_fn, static_argnames=("noisy",))
    self._add = jax.jit(self._add_fn, donate_argnums=0)
    self._sample = jax.jit(self._sample_fn)
    self._set_priorities = jax.jit(lambda s, i, p: _strong(self.buffer.set_priorities(s, i, p)),
                                   donate_argnums=0)
    self._update = parallel.make_step(self._make_update, devices, batch_axis=0)

  # -- state
  def init(self, key) -> RainbowState:
    obs = jnp.zeros((1,) + self.obs_shape, jnp.uint8)
    params = jax.jit(self.net.init)(key, obs, self.init_alphas)["params"]
    opt_state, arch_opt_state = self.opt.init(params, self.init_alphas)
    return RainbowState(params, params, self.init_alphas, self.init_alphas, opt_state,
                        arch_opt_state, jnp.zeros((), jnp.int32), np.int64(0))

  def _apply(self, params, alphas, obs, noise_key=None):
    if self.net.noisy and noise_key is not None:
      return self.net.apply({"params": params}, obs, alphas, deterministic=False,
                            rngs={"noise": noise_key})
    return self.net.apply({"params": params}, obs, alphas)

  # -- acting
  def _act_fn(self, params, alphas, obs, epsilons, key, noisy: bool):
    """epsilon-greedy in the expected Q; `noisy` draws noisy-net weights (static)."""
    k_noise, k_eps, k_rand = jax.random.split(key, 3)
    logits = self._apply(params, alphas, obs, k_noise if noisy else None)
    greedy = jnp.argmax(q_values(logits, self.atoms), axis=-1).astype(jnp.int32)
    random = jax.random.randint(k_rand, greedy.shape, 0, self.num_actions, jnp.int32)
    return jnp.where(jax.random.uniform(k_eps, greedy.shape) < epsilons, random, greedy)

  def epsilons(self, env_steps: int) -> np.ndarray:
    """[N] training epsilons of the env rows at `env_steps` (Ape-X ladder + schedule)."""
    e = self.config.rainbow.exploration
    return scheduled_epsilons(self._ladder, int(env_steps), e.schedule, e.eps_start,
                              e.decay_env_steps)

  def act(self, state: RainbowState, obs, key, evaluation: bool = False):
    """evaluation: greedy (epsilon 0, noise-free weights); else per-row training epsilons."""
    if evaluation:
      # Same compiled function as training when noisy nets are off (epsilons of zero).
      eps = np.zeros((obs.shape[0],), np.float32)
      return np.asarray(self._act(state.params, state.alphas, obs, eps, key, noisy=False))
    if obs.shape[0] != self.num_envs:
      raise ValueError(f"training act expects {self.num_envs} rows, got {obs.shape[0]}")
    return np.asarray(self._act(state.params, state.alphas, obs, self.epsilons(state.env_steps),
                                key, noisy=self.net.noisy))

  # -- replay
  def _empty_record(self):
    return {"obs": jnp.zeros(self.obs_shape, jnp.uint8), "action": jnp.zeros((), jnp.int32),
            "reward": jnp.zeros((), jnp.float32), "terminated": jnp.zeros((), jnp.bool_),
            "game_id": jnp.zeros((), jnp.int32)}

  def add_records(self, obs, actions, rewards, terminated):
    """Appends [N, T] records (obs_t, a_t, raw r_{t+1}, terminated_{t+1}) to the replay.

    Rewards are divided by the max reward of each row's game here, once.
    """
    if self.buffer_state is None:
      self.buffer_state = jax.jit(lambda r: _strong(self.buffer.init(r)))(self._empty_record())
    T = actions.shape[1]
    records = {"obs": obs, "action": actions.astype(np.int32),
               "reward": (rewards / self._row_scale[:, None]).astype(np.float32),
               "terminated": terminated.astype(bool),
               "game_id": np.broadcast_to(self.game_ids[:, None], (self.num_envs, T))}
    self.buffer_state = self._add(self.buffer_state, records)
    self.buffer_env_steps += self.num_envs * T

  def _add_fn(self, buffer_state, records):
    """flashbax's add for the pointers and the sum tree; its scatter of the frames is dead code,
    replaced by in-place writes (darts_rl/agents/replay.py)."""
    new = self.buffer.add(buffer_state, records)
    experience = replay.write_in_place(buffer_state.experience, records,
                                       buffer_state.current_index)
    return _strong(new.replace(experience=experience))

  def _sample_fn(self, buffer_state, key):
    c = self.config.rainbow
    k_w, k_a = jax.random.split(key)

    def draw(k):
      s = self.buffer.sample(buffer_state, k)
      return (transition_from_window(s.experience, c.gamma,
                                     importance_weights(s.probabilities, c.importance_exponent)),
              s.indices)

    batch, indices = draw(k_w)
    # alternating: the alpha step uses an independently drawn minibatch.
    arch_batch = draw(k_a)[0] if self.config.arch.mode == "alternating" else None
    return (batch, arch_batch), indices

  def sample(self, key):
    """((Transition, Transition | None), item indices [B]) from the prioritized replay."""
    return self._sample(self.buffer_state, key)

  def set_priorities(self, indices, priorities):
    self.buffer_state = self._set_priorities(self.buffer_state, indices, priorities)

  def priorities_of(self, indices) -> np.ndarray:
    """Current sampling weights p^exponent of replay items (for tests and diagnostics)."""
    tree = self.buffer_state.sum_tree_state
    return np.asarray(flashbax.buffers.sum_tree.get_batch(tree, jnp.asarray(indices)))

  # -- one iteration
  def iteration(self, state: RainbowState, runner, key):
    c = self.config.rainbow
    T, N = c.rollout_steps, self.num_envs
    obs = np.empty((N, T) + self.obs_shape, np.uint8)
    actions = np.empty((N, T), np.int32)
    rewards = np.empty((N, T), np.float32)
    terminated = np.empty((N, T), bool)
    eps = self.epsilons(state.env_steps)
    for t in range(T):
      key, act_key = jax.random.split(key)
      obs[:, t] = runner.obs
      actions[:, t] = np.asarray(self._act(state.params, state.alphas, runner.obs, eps, act_key,
                                           noisy=self.net.noisy))
      step = runner.step(actions[:, t])
      rewards[:, t] = step.reward
      terminated[:, t] = step.terminated | step.truncated
      for i in np.flatnonzero(~np.isnan(step.episode_return)):
        g = self.game_ids[i]
        self._recent[g].append(float(step.episode_return[i]) / float(self.reward_scale[g]))
    self.add_records(obs, actions, rewards, terminated)
    state = state._replace(env_steps=np.int64(state.env_steps + T * N))

    metrics = {"replay/env_steps": float(self.buffer_env_steps),
               "explore/epsilon_mean": float(eps.mean())}
    if all(self._recent):
      metrics["train/normalized_return"] = float(np.mean([np.mean(d) for d in self._recent]))
    if self.buffer_env_steps < self.learning_starts:
      return state, metrics
    sums = None
    for _ in range(c.updates_per_iteration):
      key, sample_key, update_key = jax.random.split(key, 3)
      batch, indices = self.sample(sample_key)
      state, m = self.update_step(state, batch, update_key)
      self.set_priorities(indices, m.pop("priorities"))
      sums = m if sums is None else jax.tree.map(jnp.add, sums, m)
    metrics.update({k: float(v) / c.updates_per_iteration
                    for k, v in jax.device_get(sums).items()})
    metrics["learner/updates"] = float(state.learner_updates)
    return state, metrics

  def update_step(self, state: RainbowState, batch, key):
    """(state, (batch, arch_batch | None), key) -> (state, metrics).

    metrics: device scalars plus 'priorities' [B], the new priority of every sampled item
    (its C51 loss + priority_epsilon), gathered over devices in batch order.
    """
    dev_state = (state.params, state.target_params, state.alphas, state.target_alphas,
                 state.opt_state, state.arch_opt_state, state.learner_updates)
    new, (metrics, priorities) = self._update(dev_state, batch, key)
    params, target_params, alphas, target_alphas, opt_state, arch_opt_state, updates = new
    state = state._replace(params=params, target_params=target_params, alphas=alphas,
                           target_alphas=target_alphas, opt_state=opt_state,
                           arch_opt_state=arch_opt_state, learner_updates=updates)
    return state, dict(metrics, priorities=priorities)

  def _make_update(self, axis_name: Optional[str]):
    c = self.config.rainbow
    atoms = self.atoms

    def loss_fn(params, alphas, data):
      b, (target_params, target_alphas), key = data["batch"], data["target"], data["key"]
      k_tm1, k_t, k_sel = jax.random.split(key, 3)
      logits_tm1 = self._apply(params, alphas, b.obs_tm1, k_tm1)
      logits_t = self._apply(target_params, target_alphas, b.obs_t, k_t)
      selector = q_values(self._apply(params, alphas, b.obs_t, k_sel), atoms)
      ce = categorical_double_q_loss(logits_tm1, b.a_tm1, b.r_t, b.discount_t,
                                     jax.lax.stop_gradient(logits_t),
                                     jax.lax.stop_gradient(selector), atoms)
      q_tm1 = q_values(logits_tm1, atoms)
      q_a = jnp.take_along_axis(q_tm1, b.a_tm1[:, None], axis=-1)[:, 0]
      return jnp.mean(b.weight * ce), {"ce": ce, "q_taken": jnp.mean(q_a)}

    def step(dev_state, batch, key):
      params, target_params, alphas, target_alphas, opt_state, arch_opt_state, updates = dev_state
      weight_batch, arch_batch = batch
      target = (target_params, target_alphas)
      data = {"batch": weight_batch, "target": target, "key": key}
      arch_data = {"batch": weight_batch if arch_batch is None else arch_batch, "target": target,
                   "key": jax.random.fold_in(key, 1)}
      params, alphas, opt_state, arch_opt_state, aux = self.opt.update(
          loss_fn, params, alphas, opt_state, arch_opt_state, data, arch_data, axis_name)
      updates = updates + 1
      target_params = optax.periodic_update(params, target_params, updates,
                                            c.target_update_period)
      target_alphas = optax.periodic_update(alphas, target_alphas, updates,
                                            c.target_update_period)
      ce = aux.pop("ce")
      priorities = parallel.all_gather(jax.lax.stop_gradient(ce), axis_name) + c.priority_epsilon
      metrics = {f"loss/{k}": v for k, v in aux.items() if k != "q_taken"}
      metrics["loss/ce"] = jnp.mean(ce)
      metrics["q/taken"] = aux["q_taken"]
      metrics["replay/is_weight_mean"] = jnp.mean(weight_batch.weight)
      metrics["replay/return_mean"] = jnp.mean(weight_batch.r_t)
      metrics = parallel.pmean(metrics, axis_name)
      new = (params, target_params, alphas, target_alphas, opt_state, arch_opt_state, updates)
      return new, (metrics, priorities)

    return step
