"""PPO (clipped surrogate, value clipping, entropy bonus, GAE) with a searchable encoder.

The supernet acts during search; its alphas are trained by the same PPO loss through
`optim.DualOptimizer` (joint or alternating). Hyperparameters: REFERENCE.md §3.
Math at module level (gae, ppo_loss, RunningStats) is tested against hand-computed numbers.
"""
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from darts_rl import parallel
from darts_rl.agents import optim


# ---------------------------------------------------------------------------- learning math

def gae(r_t, discount_t, v_t, v_last, lambda_):
  """Generalized advantage estimation (Schulman et al. 2016) via rlax.

  r_t, discount_t, v_t: [T, N]; v_last: [N] value of the observation after the last step;
  discount_t = gamma * (1 - done_t). Returns advantages [T, N].
  """
  values = jnp.concatenate([v_t, v_last[None]], axis=0)
  f = lambda r, d, v: rlax.truncated_generalized_advantage_estimation(r, d, lambda_, v)
  return jax.vmap(f, in_axes=1, out_axes=1)(r_t, discount_t, values)


def ppo_loss(logits, values, actions, old_logp, old_values, advantages, returns,
             clip_eps, value_clip_eps, entropy_coef, value_coef):
  """PPO-clip loss (Schulman et al. 2017). All inputs [B] except logits [B, A].

  Returns (total, {'policy_loss', 'value_loss', 'entropy', 'approx_kl', 'clip_frac'}).
  """
  logp_all = jax.nn.log_softmax(logits)
  logp = jnp.take_along_axis(logp_all, actions[:, None], axis=-1)[:, 0]
  ratio = jnp.exp(logp - old_logp)
  policy_loss = rlax.clipped_surrogate_pg_loss(ratio, advantages, clip_eps)
  v_clipped = old_values + jnp.clip(values - old_values, -value_clip_eps, value_clip_eps)
  value_loss = 0.5 * jnp.mean(jnp.maximum((values - returns) ** 2, (v_clipped - returns) ** 2))
  entropy = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
  total = policy_loss + value_coef * value_loss - entropy_coef * entropy
  return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                 "approx_kl": jnp.mean((ratio - 1) - jnp.log(ratio)),
                 "clip_frac": jnp.mean(jnp.abs(ratio - 1) > clip_eps)}


class RunningStats(NamedTuple):
  """Running mean/variance (Chan et al. parallel update) of a scalar stream."""
  mean: np.ndarray
  var: np.ndarray
  count: np.ndarray

  @classmethod
  def create(cls):
    return cls(np.zeros((), np.float64), np.ones((), np.float64), np.full((), 1e-4, np.float64))

  def update(self, x) -> "RunningStats":
    x = np.asarray(x, np.float64).reshape(-1)
    b_mean, b_var, b_count = x.mean(), x.var(), x.size
    delta = b_mean - self.mean
    tot = self.count + b_count
    mean = self.mean + delta * b_count / tot
    m2 = self.var * self.count + b_var * b_count + delta ** 2 * self.count * b_count / tot
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
    logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                      name="policy")(h)
    value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="value")(h)[:, 0]
    return logits, value


class PPOState(NamedTuple):
  params: Any
  alphas: Any
  opt_state: Any
  arch_opt_state: Any
  ret_stats: RunningStats   # host-side reward normalizer
  ret_acc: np.ndarray       # [N] discounted return accumulator


class Batch(NamedTuple):
  obs: Any          # [T, N, H, W, C] uint8
  actions: Any      # [T, N] int32
  logp: Any         # [T, N]
  values: Any       # [T, N]
  rewards: Any      # [T, N] normalized
  dones: Any        # [T, N] bool
  last_value: Any   # [N]


class PPO:
  """On-policy agent: one iteration = rollout of `num_steps` x num_envs, then the update."""

  def __init__(self, config, encoder_spec, obs_shape, action_spec, num_envs: int,
               devices: Optional[int] = None):
    c = config.ppo
    if not hasattr(action_spec, "num_actions"):
      raise ValueError("PPO here supports discrete actions (Procgen); use SAC for DM-Control")
    if c.num_steps % c.num_minibatches:
      raise ValueError(f"ppo.num_steps={c.num_steps} must be divisible by "
                       f"ppo.num_minibatches={c.num_minibatches}")
    self.grad_chunks = c.get("grad_chunks", 1)
    steps_per_minibatch = c.num_steps // c.num_minibatches
    if self.grad_chunks < 1 or steps_per_minibatch % self.grad_chunks:
      raise ValueError(f"ppo.grad_chunks={self.grad_chunks} must be >= 1 and divide the "
                       f"{steps_per_minibatch} time steps of a minibatch "
                       f"(num_steps / num_minibatches)")
    self.config = config
    self.num_envs = num_envs
    self.obs_shape = tuple(obs_shape)
    self.init_alphas = encoder_spec.alphas
    self.net = PPONetwork(encoder_spec.module, action_spec.num_actions)
    self.opt = optim.DualOptimizer(optim.make_optimizer(c.optimizer), config.arch)
    self.env_steps_per_iteration = c.num_steps * num_envs
    self._act = jax.jit(self._act_fn)
    self._devices = parallel.Devices(devices)
    self._prepare = self._devices.compile(self._make_prepare)
    self._minibatch = self._devices.compile(self._make_minibatch)
    if self.grad_chunks > 1:
      parts = ("weights", "alphas") if config.arch.mode == "alternating" else ("weights",)
      d = self._devices
      self._zeros = d.compile(lambda _: lambda tree: jax.tree.map(jnp.zeros_like, tree))
      self._chunk = {p: d.compile(lambda ax, p=p: self._make_chunk(ax, p), donate=(4,))
                     for p in parts}
      self._apply = {p: d.compile(lambda ax, p=p: self._make_apply(ax, p)) for p in parts}

  # -- state
  def init(self, key) -> PPOState:
    obs = jnp.zeros((1,) + self.obs_shape, jnp.uint8)
    params = jax.jit(self.net.init)(key, obs, self.init_alphas)["params"]
    opt_state, arch_opt_state = self.opt.init(params, self.init_alphas)
    return PPOState(params, self.init_alphas, opt_state, arch_opt_state, RunningStats.create(),
                    np.zeros((self.num_envs,), np.float64))

  # -- acting
  def _act_fn(self, params, alphas, obs, key):
    logits, value = self.net.apply({"params": params}, obs, alphas)
    action = jax.random.categorical(key, logits)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
    return action, logp, value

  def act(self, state: PPOState, obs, key, evaluation: bool = False):
    """Stochastic policy in training and evaluation (the paper evaluates it so)."""
    del evaluation
    return np.asarray(self._act(state.params, state.alphas, obs, key)[0])

  # -- one iteration
  def iteration(self, state: PPOState, runner, key):
    c = self.config.ppo
    T, N = c.num_steps, self.num_envs
    obs = np.empty((T, N) + self.obs_shape, np.uint8)
    actions = np.empty((T, N), np.int32)
    logp = np.empty((T, N), np.float32)
    values = np.empty((T, N), np.float32)
    rewards = np.empty((T, N), np.float32)
    dones = np.empty((T, N), bool)
    key, act_key = jax.random.split(key)
    act_keys = jax.random.split(act_key, T)
    for t in range(T):
      obs[t] = runner.obs
      a, lp, v = self._act(state.params, state.alphas, runner.obs, act_keys[t])
      actions[t], logp[t], values[t] = a, lp, v
      step = runner.step(actions[t])
      rewards[t] = step.reward
      dones[t] = step.terminated | step.truncated
    last_value = np.asarray(self._act(state.params, state.alphas, runner.obs, key)[2])
    scaled, ret_stats, ret_acc = normalize_rewards(state.ret_stats, state.ret_acc, rewards, dones,
                                                   c.gamma, c.reward_clip)
    batch = Batch(obs, actions, logp, values, scaled, dones, last_value)
    state = state._replace(ret_stats=ret_stats, ret_acc=ret_acc)
    return self.update_step(state, batch, key)

  def update_step(self, state: PPOState, batch: Batch, key):
    """(state, batch, key) -> (state, metrics); envs split over devices when there are several.

    The epoch / minibatch loops run in Python around one compiled minibatch step: XLA:CPU runs
    the same step ~7x slower inside a lax.scan (while loop) than as a top-level call, and on
    accelerators the dispatch is asynchronous, so the loop costs nothing there.
    """
    c = self.config.ppo
    d = self._devices
    carry = d.replicate((state.params, state.alphas, state.opt_state, state.arch_opt_state))
    data, stats = self._prepare(d.shard(batch._replace(last_value=batch.last_value[None]), 1))
    auxes = []
    for epoch_key in jax.random.split(key, c.num_epochs):
      for m in range(c.num_minibatches):
        where = (data, d.broadcast(epoch_key), d.broadcast(m))
        if self.grad_chunks == 1:
          carry, aux = self._minibatch(carry, *where)
          auxes.append(aux)
        else:
          carry = self._accumulated_minibatch(carry, where, auxes)
    params, alphas, opt_state, arch_opt_state = d.first(carry)
    auxes, stats = jax.device_get(d.first((auxes, stats)))  # one transfer for all metrics
    keys = dict.fromkeys(k for a in auxes for k in a)
    metrics = {f"loss/{k}": float(np.mean([a[k] for a in auxes if k in a])) for k in keys}
    metrics.update({k: float(v) for k, v in stats.items()})
    new = state._replace(params=params, alphas=alphas, opt_state=opt_state,
                         arch_opt_state=arch_opt_state)
    return new, metrics

  def _make_prepare(self, axis_name: Optional[str]):
    """batch -> (data for minibatches: obs, actions, logp, values, adv, returns; stats)."""
    c = self.config.ppo

    def prepare(batch: Batch):
      discount = c.gamma * (1.0 - batch.dones.astype(jnp.float32))
      adv = gae(batch.rewards, discount, batch.values, batch.last_value[0], c.gae_lambda)
      data = {"obs": batch.obs, "actions": batch.actions, "logp": batch.logp,
              "values": batch.values, "adv": adv, "returns": adv + batch.values}
      adv_mean = parallel.pmean(jnp.mean(adv), axis_name)
      stats = {"value/mean": parallel.pmean(jnp.mean(batch.values), axis_name),
               "adv/std": jnp.sqrt(parallel.pmean(jnp.mean(adv ** 2), axis_name) - adv_mean ** 2)}
      return data, stats

    return prepare

  def _accumulated_minibatch(self, carry, where, auxes):
    """One minibatch's update as `grad_chunks` jitted gradient calls summed on the device,
    then one optimizer step (per pass: the alternating mode's alpha pass is a second one).

    The gradient is the full minibatch's (up to float summation order). On XLA:CPU the cost per
    sample grows with batch size (benchmarks/RESULTS.md), so several smaller calls are faster.
    """
    d = self._devices
    for part in self._chunk:
      acc = self._zeros(self._grad_tree(carry, part))
      for k in range(self.grad_chunks):
        acc, aux = self._chunk[part](carry, *where, acc, d.broadcast(k))
        auxes.append(aux)
      carry, norms = self._apply[part](carry, acc)
      auxes.append(norms)
    return carry

  def _grad_tree(self, carry, part):
    params, alphas = carry[0], carry[1]
    if part == "alphas":
      return alphas
    return (params, alphas) if self.config.arch.mode == "joint" else params

  def _make_loss(self):
    c = self.config.ppo

    def loss_fn(params, alphas, mb):
      logits, v = self.net.apply({"params": params}, mb["obs"], alphas)
      adv = mb["adv"]
      if c.normalize_advantages:
        adv = (adv - mb["adv_mean"]) / (mb["adv_std"] + 1e-8)
      return ppo_loss(logits, v, mb["actions"], mb["logp"], mb["values"], adv, mb["returns"],
                      c.clip_eps, c.value_clip_eps, c.entropy_coef, c.value_coef)

    return loss_fn

  def _select(self, data, epoch_key, m, axis_name, arch: bool = False, chunk=None):
    """Minibatch m of an epoch (arch: the alternating mode's alpha minibatch, the next one),
    optionally only its time-chunk `chunk` of grad_chunks; advantage statistics are always the
    whole global minibatch's (all devices), so results depend on neither D nor grad_chunks."""
    M = self.config.ppo.num_minibatches
    T, n = data["actions"].shape
    # Minibatch m takes T / M time steps of every env, time shuffled independently per env
    # with a key folded by the env's *global* index: membership does not depend on how envs
    # are split over devices, so D devices give the single-device update exactly.
    env_ids = parallel.axis_offset(n, axis_name) + jnp.arange(n)
    perm = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(epoch_key, e), T))(
        env_ids).T.reshape(M, T // M, n)                   # [M, T / M, n]
    idx = perm[(m + 1) % M] if arch else perm[m]
    cols = jnp.arange(n)[None, :]
    adv = data["adv"][idx, cols]
    mean = parallel.pmean(jnp.mean(adv), axis_name)
    var = parallel.pmean(jnp.mean(adv ** 2), axis_name) - mean ** 2
    if chunk is not None:
      rows = idx.shape[0] // self.grad_chunks
      idx = jax.lax.dynamic_slice_in_dim(idx, chunk * rows, rows)
    # x[idx[s, e], e] for every sampled step s and env e: a gather of whole frames.
    mb = jax.tree.map(lambda x: x[idx, cols].reshape((-1,) + x.shape[2:]), data)
    return dict(mb, adv_mean=mean, adv_std=jnp.sqrt(jnp.maximum(var, 0.0)))

  def _make_minibatch(self, axis_name: Optional[str]):
    loss_fn = self._make_loss()

    def minibatch(carry, data, epoch_key, m):
      params, alphas, opt_state, arch_opt_state = carry
      mb = self._select(data, epoch_key, m, axis_name)
      arch_mb = self._select(data, epoch_key, m, axis_name, arch=True)
      params, alphas, opt_state, arch_opt_state, aux = self.opt.update(
          loss_fn, params, alphas, opt_state, arch_opt_state, mb, arch_mb, axis_name)
      return (params, alphas, opt_state, arch_opt_state), parallel.pmean(aux, axis_name)

    return minibatch

  def _make_chunk(self, axis_name: Optional[str], part: str):
    """(carry, data, epoch_key, m, acc, k) -> (acc + chunk k's gradient / grad_chunks, aux)."""
    loss_fn = self._make_loss()
    mode = self.config.arch.mode
    K = self.grad_chunks

    def chunk(carry, data, epoch_key, m, acc, k):
      params, alphas = carry[0], carry[1]
      mb = self._select(data, epoch_key, m, axis_name, arch=part == "alphas", chunk=k)
      if part == "alphas":
        g, aux = self.opt.arch_grads(loss_fn, params, alphas, mb), {}
      else:
        loss, aux, g, ga = self.opt.grads(loss_fn, params, alphas, mb)
        aux = dict(aux, loss=loss)
        if mode == "joint":
          g = (g, ga)
      acc = jax.tree.map(lambda a, x: a + x / K, acc, g)
      return acc, parallel.pmean(aux, axis_name)

    return chunk

  def _make_apply(self, axis_name: Optional[str], part: str):
    """(carry, summed gradients) -> (carry after the optimizer step(s), grad norms)."""
    mode = self.config.arch.mode

    def apply(carry, acc):
      params, alphas, opt_state, arch_opt_state = carry
      norms = {}
      if part == "weights":
        g, ga = acc if mode == "joint" else (acc, None)
        params, opt_state, g = self.opt.apply_weights(params, opt_state, g, axis_name)
        norms["grad_norm"] = optax.tree.norm(g)
      else:
        ga = acc
      if ga is not None:
        alphas, arch_opt_state, ga = self.opt.apply_arch(alphas, arch_opt_state, ga, axis_name)
        norms["arch_grad_norm"] = optax.tree.norm(ga)
      return (params, alphas, opt_state, arch_opt_state), norms

    return apply
