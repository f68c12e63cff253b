"""PPO (clipped surrogate, value clipping, entropy bonus, GAE) with a searchable encoder.

The supernet acts during search; its alphas are trained by the same PPO loss through
`optim.DualOptimizer` (joint or alternating). One iteration: every device's env group acts
`ppo.num_steps` steps (darts_rl/train/actors.py: the rollout stays on the device that produced
it), rewards are normalized on the host with statistics over all envs of the run, then
`num_epochs` x `num_minibatches` device-mapped updates (parallel.py) read the rollout where
it lies.
Math at module level (gae, ppo_loss, RunningStats) is tested against hand-computed numbers.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import rlax

from darts_rl import parallel
from darts_rl.agents import accumulate, optim
from darts_rl.agents.base import (
  AgentBase,
  AgentState,
  Batches,
  EnvSpec,
  arch_updates,
  mean_metrics,
)

# ---------------------------------------------------------------------------- learning math


def gae(r_t, discount_t, v_t, v_last, lambda_):
  """Generalized advantage estimation (Schulman et al. 2016) via rlax.

  r_t, discount_t, v_t: [T, N]; v_last: [N] value of the observation after the last step;
  discount_t = gamma * (1 - done_t). Returns advantages [T, N].
  """
  values = jnp.concatenate([v_t, v_last[None]], axis=0)
  f = lambda r, d, v: rlax.truncated_generalized_advantage_estimation(r, d, lambda_, v)
  return jax.vmap(f, in_axes=1, out_axes=1)(r_t, discount_t, values)


def ppo_loss(
  logits,
  values,
  actions,
  old_logp,
  old_values,
  advantages,
  returns,
  clip_eps,
  value_clip_eps,
  entropy_coef,
  value_coef,
):
  """PPO-clip loss (Schulman et al. 2017). All inputs [B] except logits [B, A].

  Returns (total, {'policy_loss', 'value_loss', 'entropy', 'approx_kl', 'clip_frac'}).
  """
  logp_all = jax.nn.log_softmax(logits)
  logp = jnp.take_along_axis(logp_all, actions[:, None], axis=-1)[:, 0]
  ratio = jnp.exp(logp - old_logp)
  policy_loss = rlax.clipped_surrogate_pg_loss(ratio, advantages, clip_eps)
  v_clipped = old_values + jnp.clip(values - old_values, -value_clip_eps, value_clip_eps)
  # No extra 1/2 (CleanRL has one): the released loss is value_coef * clipped MSE.
  value_loss = jnp.mean(jnp.maximum((values - returns) ** 2, (v_clipped - returns) ** 2))
  entropy = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
  total = policy_loss + value_coef * value_loss - entropy_coef * entropy
  return total, {
    "policy_loss": policy_loss,
    "value_loss": value_loss,
    "entropy": entropy,
    "approx_kl": jnp.mean((ratio - 1) - jnp.log(ratio)),
    "clip_frac": jnp.mean(jnp.abs(ratio - 1) > clip_eps),
  }


class RunningStats(NamedTuple):
  """Running mean/variance (Chan et al. parallel update) of a scalar stream."""

  mean: np.ndarray
  var: np.ndarray
  count: np.ndarray

  @classmethod
  def create(cls):
    """Mean 0, variance 1, a tiny count (the first batch all but replaces them)."""
    return cls(np.zeros((), np.float64), np.ones((), np.float64), np.full((), 1e-4, np.float64))

  def update(self, x) -> "RunningStats":
    """The statistics after also seeing the values x (any shape; one batch)."""
    x = np.asarray(x, np.float64).reshape(-1)
    b_mean, b_var, b_count = x.mean(), x.var(), x.size
    delta = b_mean - self.mean
    tot = self.count + b_count
    mean = self.mean + delta * b_count / tot
    m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / tot
    return RunningStats(np.asarray(mean), np.asarray(m2 / tot), np.asarray(tot))


def normalize_rewards(stats: RunningStats, ret_acc, rewards, dones, gamma, clip):
  """Divides rewards by the running std of the discounted return (as gym's NormalizeReward).

  rewards, dones: [T, N]; ret_acc: [N] return accumulator. Returns (scaled [T, N], stats, ret_acc).
  """
  scaled = np.empty_like(rewards, dtype=np.float32)
  for t in range(rewards.shape[0]):
    ret_acc = ret_acc * gamma + rewards[t]
    stats = stats.update(ret_acc)
    scaled[t] = np.clip(rewards[t] / np.sqrt(stats.var + 1e-8), -clip, clip)
    ret_acc = np.where(dones[t], 0.0, ret_acc)
  return scaled, stats, ret_acc


# ---------------------------------------------------------------------------- network & state


class PPONetwork(nn.Module):
  """encoder(obs, alphas) -> features -> (policy logits [B, A], value [B])."""

  encoder: nn.Module
  num_actions: int

  @nn.compact
  def __call__(self, obs, alphas):
    h = self.encoder(obs, alphas)
    logits = nn.Dense(
      self.num_actions, kernel_init=nn.initializers.orthogonal(0.01), name="policy"
    )(h)
    value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="value")(h)[:, 0]
    return logits, value


# What the PPO learner updates (weights, alphas, both optimizer states); replicated on every
# device.
PPOLearner = optim.DualState


class PPOHost(NamedTuple):
  """Host state, identical on every process: the reward normalizer over all envs."""

  ret_stats: RunningStats
  ret_acc: np.ndarray  # [N] discounted return accumulator of every env of the run


class Batch(NamedTuple):
  """One device's rollout, time-major (n = envs of that device)."""

  obs: Any  # [T, n, H, W, C] uint8
  actions: Any  # [T, n] int32
  logp: Any  # [T, n] behaviour log-probabilities
  values: Any  # [T, n]
  rewards: Any  # [T, n] normalized
  dones: Any  # [T, n] bool
  next_obs: Any  # [n, H, W, C] uint8: bootstrap observation after the last step


# ppo.grad_chunks=0 (auto) on XLA:CPU: calls of at most this many samples per device. Per-sample
# speed of the IMPALA-CNN's forward+backward was 64 > 256 > 2048 samples per call; smaller
# calls gained little more for the demo's supernet (32: +4 %; benchmarks/RESULTS.md).
AUTO_CHUNK_SAMPLES = 64


def grad_chunks(
  requested: int,
  steps_per_minibatch: int,
  envs_per_device: int,
  whole_minibatch: bool = False,
  backend: str = "",
) -> int:
  """ppo.grad_chunks -> how many jitted gradient calls one minibatch is split into.

  K >= 1 is taken as given (it must divide the minibatch's time steps). 0 is auto: 1 on
  accelerators (and where the arch mode needs the whole minibatch in one call); on CPU the
  fewest chunks (a divisor of the time steps) that bring one call to at most
  AUTO_CHUNK_SAMPLES samples per device, or one time step per call where even that is more.
  """
  if requested < 0 or (requested and steps_per_minibatch % requested):
    raise ValueError(
      f"ppo.grad_chunks={requested} must be 0 (auto) or a divisor >= 1 of the "
      f"{steps_per_minibatch} time steps of a minibatch (num_steps / num_minibatches)"
    )
  if requested:
    return requested
  if whole_minibatch or (backend or jax.default_backend()) != "cpu":
    return 1
  divisors = [k for k in range(1, steps_per_minibatch + 1) if steps_per_minibatch % k == 0]
  fits = [k for k in divisors if steps_per_minibatch // k * envs_per_device <= AUTO_CHUNK_SAMPLES]
  return fits[0] if fits else steps_per_minibatch


class PPO(AgentBase):
  """On-policy agent: one iteration = rollout of `num_steps` x num_envs, then the update."""

  def __init__(self, config, encoder_spec, spec: EnvSpec, devices: parallel.Devices):
    c = config.ppo
    if not hasattr(spec.action_spec, "num_actions"):
      raise ValueError("PPO here supports discrete actions (Procgen); use SAC for DM-Control")
    if c.num_steps % c.num_minibatches:
      raise ValueError(
        f"ppo.num_steps={c.num_steps} must be divisible by ppo.num_minibatches={c.num_minibatches}"
      )
    steps_per_minibatch = c.num_steps // c.num_minibatches
    self.env_steps_per_iteration = c.num_steps * spec.num_envs
    self.arch_plan = (self.env_steps_per_iteration, c.num_epochs * c.num_minibatches, 0)
    self.opt = optim.DualOptimizer.from_config(
      c.optimizer,
      config.arch,
      arch_updates(config, *self.arch_plan),
      temperature=config.encoder.temperature,
    )
    self.grad_chunks = grad_chunks(
      c.grad_chunks,
      steps_per_minibatch,
      spec.envs_per_group,
      whole_minibatch=not self.opt.accumulates,
    )
    self.config = config
    self.spec = spec
    self.devices = devices
    self.init_alphas = encoder_spec.alphas
    self.net = PPONetwork(encoder_spec.module, spec.action_spec.num_actions)
    d = devices
    self._init = jax.jit(self._init_fn)
    # The network jitted inside the compiled steps: traced once per input shape in this process,
    # however many steps and calls use it (acting and the update's last values share a shape). XLA
    # inlines the call, so the steps compute what they would with it traced in place.
    self._net = jax.jit(self.net.apply)
    self._prepare = d.compile(self._prepare_fn)
    # The collapse monitor's probe is decided on the host (optim.ProbedStep).
    self._minibatch = optim.ProbedStep(self.opt, d, self._minibatch_fn, donate=(0,))
    self._steps = {m: d.broadcast(np.int32(m)) for m in range(c.num_minibatches)}
    # grad_chunks > 1: each minibatch's update as that many gradient calls (by time chunks).
    self._accumulated = (
      accumulate.Accumulated(self.opt, d, self._loss, self._select, self.grad_chunks)
      if self.grad_chunks > 1
      else None
    )

  def resolved_options(self):
    if self.config.ppo.grad_chunks:
      return {}
    return {"ppo.grad_chunks": f"auto -> {self.grad_chunks}"}

  # -- state
  def init(self, key) -> AgentState:
    """Fresh learner (params, alphas, both optimizer states) and reward normalizer."""
    return AgentState(
      self._init(key),
      PPOHost(RunningStats.create(), np.zeros((self.spec.num_envs,), np.float64)),
    )

  def _init_fn(self, key) -> PPOLearner:
    """One program (run eagerly, the optimizer states would compile one per parameter shape)."""
    obs = jnp.zeros((1,) + self.spec.observation_shape, jnp.uint8)
    params = self.net.init(key, obs, self.init_alphas)["params"]
    return self.opt.init(params, self.init_alphas)

  def log_scalars(self, state: AgentState):
    """Nothing beyond the update's metrics."""
    return {}

  # -- acting
  def act(self, learner: PPOLearner, obs, keys, inputs):
    """Stochastic policy: -> (actions [n], {'logp': [n], 'value': [n]})."""
    del inputs
    logits, value = self._net({"params": learner.params}, obs, learner.alphas)
    action = jax.vmap(jax.random.categorical)(keys, logits)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
    return action, {"logp": logp, "value": value}

  def eval_act(self, learner: PPOLearner, obs, keys):
    """The stochastic policy, as in training (the paper evaluates it so)."""
    return self.act(learner, obs, keys, None)[0]

  # -- one iteration
  def collect(self, state: AgentState, actors, key):
    """num_steps acting steps of every env with the stochastic policy (obs, actions,
    log-probs, values stay on the devices)."""
    return actors.rollout(self.act, self.acting(state.learner), self.config.ppo.num_steps, key)

  def learn(self, state: AgentState, ro, key):
    """Normalizes the rollout's rewards (statistics over all envs of the run), then
    num_epochs x num_minibatches updates -> (state, metrics on the devices)."""
    dones = ro.terminated | ro.truncated
    scaled, host = self._normalize(state.host, ro.rewards, dones)
    d = self.devices
    batch = Batch(
      ro.obs,
      ro.actions,
      ro.extras["logp"],
      ro.extras["value"],
      d.put(scaled),
      d.put(dones),
      ro.next_obs,
    )
    learner, metrics = self.update(state.learner, batch, key)
    return AgentState(learner, host), metrics

  def _normalize(self, host: PPOHost, rewards, dones):
    """Reward normalization with statistics over every env of the run (all processes, in
    global row order), so the result does not depend on how envs are split.
    rewards, dones: this process's [L, T, n] -> (scaled [L, T, n] float32, new host state)."""
    c = self.config.ppo
    L, T, n = rewards.shape
    every = lambda x: parallel.process_allgather(x).transpose(2, 0, 1, 3).reshape(T, -1)
    r, done = every(rewards), every(dones.astype(np.uint8)).astype(bool)
    scaled, stats, acc = normalize_rewards(
      host.ret_stats, host.ret_acc, r, done, c.gamma, c.reward_clip
    )
    first = self.devices.first * n
    mine = scaled[:, first : first + L * n].reshape(T, L, n).transpose(1, 0, 2)
    return np.ascontiguousarray(mine), PPOHost(stats, acc)

  def place_batch(self, batch: Batch) -> Batch:
    """A host batch of the run's N envs ([T, N] fields, next_obs [N]) split over the local
    devices (tests and benchmarks; training batches are produced on the devices)."""
    d = self.devices
    return Batch(
      *[d.shard(x, axis=0 if name == "next_obs" else 1) for name, x in zip(Batch._fields, batch)]
    )

  def update(self, learner: PPOLearner, batch: Batch, key):
    """(learner, batch, key) -> (learner, metrics), all on the devices (mapped over all of them).

    The epoch / minibatch loops run in Python around one compiled minibatch step: XLA:CPU runs
    the same step ~7x slower inside a lax.scan (while loop) than as a top-level call, and on
    accelerators the dispatch is asynchronous, so the loop costs nothing there.
    """
    c = self.config.ppo
    d = self.devices
    data, stats = self._prepare(learner, batch)
    auxes = []
    # Arch updates so far (one per minibatch step): when the monitor probes.
    updates = self._minibatch.count(learner.arch_opt_state)
    for epoch_key in jax.random.split(key, c.num_epochs):
      epoch_key = d.broadcast(epoch_key)
      for m in range(c.num_minibatches):
        if self.grad_chunks == 1:
          learner, aux = self._minibatch(updates, learner, data, epoch_key, self._steps[m])
          auxes.append(aux)
        else:
          probe = self._minibatch.due(updates)
          learner = self._accumulated(learner, data, epoch_key, self._steps[m], auxes, probe)
        updates += 1
    metrics = {f"loss/{k}": v for k, v in mean_metrics(auxes, d).items()}
    metrics.update(stats)
    return learner, metrics

  def _prepare_fn(self, learner: PPOLearner, batch: Batch):
    """-> (data for minibatches: obs, actions, logp, values, adv, returns; stats)."""
    c = self.config.ppo
    _, last_value = self._net({"params": learner.params}, batch.next_obs, learner.alphas)
    discount = c.gamma * (1.0 - batch.dones.astype(jnp.float32))
    adv = gae(batch.rewards, discount, batch.values, last_value, c.gae_lambda)
    data = {
      "obs": batch.obs,
      "actions": batch.actions,
      "logp": batch.logp,
      "values": batch.values,
      "adv": adv,
      "returns": adv + batch.values,
    }
    adv_mean = parallel.pmean(jnp.mean(adv))
    stats = {
      "value/mean": parallel.pmean(jnp.mean(batch.values)),
      "adv/std": jnp.sqrt(parallel.pmean(jnp.mean(adv**2)) - adv_mean**2),
    }
    return data, stats

  def _loss(self, params, alphas, mb):
    c = self.config.ppo
    logits, v = self._net({"params": params}, mb["obs"], alphas)
    adv = mb["adv"]
    if c.normalize_advantages:
      adv = (adv - mb["adv_mean"]) / (mb["adv_std"] + 1e-8)
    return ppo_loss(
      logits,
      v,
      mb["actions"],
      mb["logp"],
      mb["values"],
      adv,
      mb["returns"],
      c.clip_eps,
      c.value_clip_eps,
      c.entropy_coef,
      c.value_coef,
    )

  def _select(self, data, epoch_key, m, arch: bool = False, chunk=None):
    """Minibatch m of an epoch (arch: the alternating mode's alpha minibatch, the next one),
    optionally only its time-chunk `chunk` of grad_chunks; advantage statistics are always the
    whole global minibatch's (all devices), so results depend on neither the device count nor
    grad_chunks."""
    M = self.config.ppo.num_minibatches
    T, n = data["actions"].shape
    # Minibatch m takes T / M time steps of every env, time shuffled independently per env
    # with a key folded by the env's *global* index: membership does not depend on how envs
    # are split over devices, so D devices give the single-device update exactly.
    env_ids = parallel.axis_offset(n) + jnp.arange(n)
    perm = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(epoch_key, e), T))(
      env_ids
    ).T.reshape(M, T // M, n)  # [M, T / M, n]
    idx = perm[(m + 1) % M] if arch else perm[m]
    cols = jnp.arange(n)[None, :]
    adv = data["adv"][idx, cols]
    mean = parallel.pmean(jnp.mean(adv))
    var = parallel.pmean(jnp.mean(adv**2)) - mean**2
    if chunk is not None:
      rows = idx.shape[0] // self.grad_chunks
      idx = jax.lax.dynamic_slice_in_dim(idx, chunk * rows, rows)
    # x[idx[s, e], e] for every sampled step s and env e: a gather of whole frames.
    mb = jax.tree.map(lambda x: x[idx, cols].reshape((-1,) + x.shape[2:]), data)
    return dict(mb, adv_mean=mean, adv_std=jnp.sqrt(jnp.maximum(var, 0.0)))

  def _batches(self, data, epoch_key, m) -> Batches:
    arch = self._select(data, epoch_key, m, arch=True) if self.opt.needs_arch_batch else None
    return Batches(self._select(data, epoch_key, m), arch)

  def _minibatch_fn(self, learner: PPOLearner, data, epoch_key, m, probe=False):
    b = self._batches(data, epoch_key, m)
    key = jax.random.fold_in(epoch_key, m)
    learner, aux = self.opt.update(
      self._loss, learner, b.weights, b.alphas, parallel.AXIS, key, probe
    )
    return learner, parallel.pmean(aux)
