"""Actors: this process's env groups, one per local device, and the compiled acting step.

Every device acts. The run's `env.num_envs` envs are split into one group per device (global
group g is seeded by (seed, g), see darts_rl/envs); this process steps the groups of its own
devices. One acting step is one compiled call over the local devices: each device runs the
agent's policy on its group's observations and writes observation, action and the policy's
extras (log-probs, values) into a rollout buffer that lives on that device (donated, written
in place), and only the actions come back to the host. The learner then reads the rollout
where it was produced: the observations are uploaded once, to act on, and never again.

Random draws are per env row, from fold_in(key, global row index), and env groups are seeded by
their global index, so a run plays the same whatever processes its devices belong to.
Acting needs no collectives, so it is mapped over the local devices only: processes act (and
evaluate) independently and meet in the learner's collectives.
"""

import math
import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl import parallel
from darts_rl.agents.base import EnvSpec
from darts_rl.envs import make_env


class Rollout(NamedTuple):
  """T acting steps of every local env group; leading axis [L] = local devices."""

  obs: Any  # [L, T, n, H, W, C] uint8 on the devices: observation acted on
  actions: Any  # [L, T, n, ...] on the devices
  extras: Dict[str, Any]  # {name: [L, T, n]} on the devices: the policy's extras
  next_obs: Any  # [L, n, H, W, C] on the devices: observation after the last step
  rewards: np.ndarray  # [L, T, n] float32 host: raw reward of each step
  terminated: np.ndarray  # [L, T, n] bool host: episode ended in a terminal state
  truncated: np.ndarray  # [L, T, n] bool host: episode cut by a time limit
  final_obs: Optional[np.ndarray]  # [L, T, n, H, W, C] host: next observation, except the last
  # one of an episode where it ended (None: env can't tell)


def _rows(device_index, n):
  return device_index * n + jnp.arange(n)


def keys_of_rows(key, rows):
  """[k] keys of the env rows with global indices `rows` [k]: fold_in(key, row)."""
  return jax.vmap(lambda r: jax.random.fold_in(key, r))(rows)


def row_keys(key, device_index, n):
  """[n] keys of one device's env rows, from fold_in(key, global row index)."""
  return keys_of_rows(key, _rows(device_index, n))


class EpisodeLog:
  """The training episodes this process's envs finished, as rows of (return, length, game id).

  An actor thread (loop.overlap) adds rows while the loop reads them, and it may already be
  stepping the next rollout when the loop logs. So rows are only reported once settled:
  train.stepping settles when a rollout is complete and before the next one starts, and what
  the loop logs never depends on how far the actor thread has got.
  """

  def __init__(self):
    self._lock = threading.Lock()
    self._live: List[np.ndarray] = []
    self._settled: List[np.ndarray] = []

  def add(self, rows: np.ndarray):
    with self._lock:
      self._live.append(np.asarray(rows, np.float64))

  def settle(self):
    """The rows added so far belong to the rollouts handed to the learner."""
    with self._lock:
      self._settled.extend(self._live)
      self._live = []

  def pop(self) -> Dict[str, np.ndarray]:
    """{'return', 'length', 'game_id'} of the settled rows not popped before."""
    with self._lock:
      rows = np.concatenate(self._settled) if self._settled else np.zeros((0, 3))
      self._settled = []
    return {
      "return": rows[:, 0].astype(np.float32),
      "length": rows[:, 1].astype(np.float32),
      "game_id": rows[:, 2].astype(np.int32),
    }

  def clear(self):
    with self._lock:
      self._live, self._settled = [], []


class Actors:
  """The env groups of this process for one split, their current observations and the
  episodes they finished (`episodes`, an EpisodeLog)."""

  def __init__(
    self,
    env_config,
    seed: int,
    split: str,
    devices: parallel.Devices,
    make: Callable = make_env,
    compiled: Optional[Dict[Any, Callable]] = None,
  ):
    """make(env_config, seed, split, group, num_groups, local_groups) -> VecEnv: envs.make_env
    (tests pass their own). compiled: the compiled acting steps, shared with other Actors on
    the same devices (a run's evaluations then compile their step once, not once per split
    and evaluation); keyed by everything a step depends on."""
    self.devices = devices
    self.envs = []
    try:
      for g in devices.global_indices:
        self.envs.append(make(env_config, seed, split, g, devices.count, devices.local_count))
    except BaseException:
      self.close()
      raise
    env = self.envs[0]
    self.n = env.num_envs
    self.spec = EnvSpec(
      tuple(env.observation_shape),
      env.action_spec,
      self.n * devices.count,
      self.n,
      np.tile(np.asarray(env.game_ids, np.int32), devices.count),
      tuple(env.game_names),
      np.asarray(env.reward_scale, np.float32),
    )
    self._device_index = devices.put(np.asarray(list(devices.global_indices), np.int32))
    self.compiled: Dict[Any, Callable] = {} if compiled is None else compiled
    self.obs = None
    self.episodes = EpisodeLog()

  def reset(self):
    """Fresh episodes in every env: self.obs [L, n, H, W, C]."""
    self.obs = np.stack([env.reset() for env in self.envs])
    return self.obs

  def close(self):
    """Frees the envs (idempotent)."""
    for env in self.envs:
      env.close()
    self.envs = []

  # -- stepping
  def _step_envs(self, actions: np.ndarray):
    """actions [L, n, ...] -> list of L Steps; every group's step starts before any is waited
    for, so the groups' env workers run concurrently."""
    for env, a in zip(self.envs, actions):
      env.step_async(a)
    steps = [env.step_wait() for env in self.envs]
    self.obs = np.stack([s.obs for s in steps])
    ended = np.stack([~np.isnan(s.episode_return) for s in steps])
    if ended.any():
      ret = np.stack([s.episode_return for s in steps])[ended]
      length = np.stack([s.episode_length for s in steps])[ended]
      games = np.broadcast_to(self.spec.game_ids[: self.n], ended.shape)[ended]
      self.episodes.add(np.stack([ret, length, games], axis=1))
    return steps

  # -- training rollouts
  def rollout(self, act: Callable, learner, num_steps: int, key, inputs=None) -> Rollout:
    """num_steps acting steps of every local env with `act` (agents.base.Agent.act)."""
    if self.obs is None:
      self.reset()
    step, empty = self._rollout_fns(act, num_steps, learner, inputs)
    d = self.devices
    buf = empty()
    key = d.broadcast(key)
    T, L, n = num_steps, d.local_count, self.n
    rewards = np.empty((L, T, n), np.float32)
    terminated = np.empty((L, T, n), bool)
    truncated = np.empty((L, T, n), bool)
    final = None
    for t in range(T):
      buf, actions = step(learner, buf, d.put(self.obs), key, inputs, self._device_index)
      steps = self._step_envs(jax.device_get(actions))
      rewards[:, t] = [s.reward for s in steps]
      terminated[:, t] = [s.terminated for s in steps]
      truncated[:, t] = [s.truncated for s in steps]
      if steps[0].final_obs is not None:
        if final is None:
          final = np.empty((L, T) + steps[0].final_obs.shape, np.uint8)
        final[:, t] = [s.final_obs for s in steps]
    return Rollout(
      buf["obs"],
      buf["actions"],
      buf["extras"],
      d.put(self.obs),
      rewards,
      terminated,
      truncated,
      final,
    )

  def _rollout_fns(self, act, T: int, learner, inputs):
    # The learner's tree structure too: a caller may pass the whole learner or what acting
    # reads of it (Agent.acting), each its own compiled step.
    trees = (jax.tree.structure(learner), jax.tree.structure(inputs))
    cache_key = ("rollout", act, T, self.n, self.spec.observation_shape, trees)
    if cache_key not in self.compiled:
      n = self.n
      one = lambda tree: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), tree)
      obs = jax.ShapeDtypeStruct((n,) + self.spec.observation_shape, jnp.uint8)
      keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), n))
      out = jax.eval_shape(act, one(learner), obs, keys, one(inputs))
      zeros = lambda s: jnp.zeros((T,) + s.shape, s.dtype)

      def empty(_):
        return {
          "obs": jnp.zeros((T,) + obs.shape, jnp.uint8),
          "actions": zeros(out[0]),
          "extras": jax.tree.map(zeros, out[1]),
          "t": jnp.zeros((), jnp.int32),
        }

      def step(learner, buf, obs, key, inputs, device_index):
        t = buf["t"]
        actions, extras = act(
          learner, obs, row_keys(jax.random.fold_in(key, t), device_index, n), inputs
        )
        put = lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x.astype(b.dtype), t, 0)
        return {
          "obs": put(buf["obs"], obs),
          "actions": put(buf["actions"], actions),
          "extras": jax.tree.map(put, buf["extras"], extras),
          "t": t + 1,
        }, actions

      dummy = self.devices.put(np.zeros((self.devices.local_count,), np.int32))
      empty_fn = self.devices.compile_local(empty)
      self.compiled[cache_key] = (
        self.devices.compile_local(step, donate=(1,)),
        lambda: empty_fn(dummy),
      )
    return self.compiled[cache_key]

  # -- evaluation
  def run_episodes(
    self,
    eval_act: Callable,
    learner,
    num_episodes: int,
    key,
    max_env_steps: int,
    rows_per_call: int = 0,
  ) -> Dict[str, Any]:
    """Evaluates `eval_act` until every env of the run finished its share of episodes.

    Each of the run's N envs contributes its first ceil(num_episodes / N) episodes, so short
    episodes are not over-counted. Returns this process's per-env episode returns (lists),
    `capped` (max_env_steps, counted over the run's envs, ended it before every env here
    finished its share) and the env steps taken here.

    rows_per_call c (0 or >= n: all n envs of a device, one call per env step): each acting
    call computes c env rows of every device, and only the rows of envs that still owe
    episodes are computed (in ceil(owing / c) calls); an env that has finished its share
    repeats its last action, its later episodes uncounted. The tail of an evaluation, where
    most envs wait for a few long episodes, then costs what those few rows cost. Each row
    draws from fold_in(fold_in(key, t), its global index) whatever c is, so c changes the
    actions only by the float summation order of a different batch size.
    """
    L, n = self.devices.local_count, self.n
    c = min(n, rows_per_call) if rows_per_call > 0 else n
    step = self._eval_fn(eval_act, c)
    quota = max(1, math.ceil(num_episodes / self.spec.num_envs))
    cap = max_env_steps * L // self.devices.count
    returns = [[] for _ in range(L * n)]
    first = np.asarray(list(self.devices.global_indices))[:, None] * n
    global_rows = (first + np.arange(n)).astype(np.int32)  # [L, n]
    device_rows = np.arange(L)[:, None]
    actions = None  # [L, n, ...]: the last action of every row
    self.reset()
    key = self.devices.broadcast(key)
    steps = 0
    t = 0
    while min(len(r) for r in returns) < quota and steps < cap:
      owing = np.asarray([len(r) < quota for r in returns]).reshape(L, n)
      if c == n:  # every row, in env order
        order, calls = np.broadcast_to(np.arange(n), (L, n)), 1
      else:  # rows still owing episodes first
        order = np.argsort(~owing, axis=1, kind="stable")
        calls = -(-int(owing.sum(axis=1).max()) // c)
      t_dev = self.devices.broadcast(np.int32(t))
      for j in range(calls):
        idx = order[:, np.arange(j * c, (j + 1) * c) % n]  # [L, c]
        out = jax.device_get(
          step(
            learner,
            self.devices.put(self.obs[device_rows, idx]),
            key,
            t_dev,
            self.devices.put(global_rows[device_rows, idx]),
          )
        )
        if actions is None:
          actions = np.zeros((L, n) + out.shape[2:], out.dtype)
        actions[device_rows, idx] = out
      out = self._step_envs(actions)
      steps += L * n
      t += 1
      ep = np.concatenate([s.episode_return for s in out])
      for i in np.flatnonzero(~np.isnan(ep)):
        if len(returns[i]) < quota:
          returns[i].append(float(ep[i]))
    self.episodes.clear()
    return {"returns": returns, "capped": min(len(r) for r in returns) < quota, "env_steps": steps}

  def _eval_fn(self, eval_act, rows: int):
    cache_key = ("eval", eval_act, rows, self.spec.observation_shape)
    if cache_key not in self.compiled:

      def step(learner, obs, key, t, global_rows):
        return eval_act(learner, obs, keys_of_rows(jax.random.fold_in(key, t), global_rows))

      self.compiled[cache_key] = self.devices.compile_local(step)
    return self.compiled[cache_key]
