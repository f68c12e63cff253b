"""How the loop runs one iteration: actors then learner, or both at once (loop.overlap).

    acting = make(agent, actors, devices, overlap)       # 'on' | 'off' | 'auto'
    key, state, metrics = acting.iteration(key, state, more=True)
    acting.close(then=actors.close)   # closes the envs where they were stepped

The loop and the end-to-end benchmark (benchmarks/e2e.py) both go through this, so what is
measured is what trains.

Both run an iteration, on every thread that takes part in it, under
`jax.transfer_guard("disallow")`: a host <-> device copy in the hot loop must be explicit
(`Devices.put` / `replicate`, `jax.device_get`), so an implicit one (a numpy array passed to a
compiled step, `np.asarray` or `float` of a device array) fails at once instead of quietly
costing a synchronous copy per step.
"""

import concurrent.futures
import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp

OVERLAP = ("auto", "on", "off")


def guarded(fn: Callable) -> Callable:
  """fn run under jax.transfer_guard("disallow") (a thread-local setting: each thread that
  runs part of an iteration enters it)."""

  @functools.wraps(fn)
  def run(*args, **kwargs):
    with jax.transfer_guard("disallow"):
      return fn(*args, **kwargs)

  return run


def overlap_enabled(mode: str) -> bool:
  """loop.overlap: on | off | auto (on where jax runs on an accelerator)."""
  if mode not in OVERLAP:
    raise ValueError(f"unknown loop.overlap '{mode}'; valid: {', '.join(OVERLAP)}")
  return mode == "on" or (mode == "auto" and jax.default_backend() != "cpu")


def make(agent, actors, devices, overlap: str):
  return (
    Overlapped(agent, actors, devices) if overlap_enabled(overlap) else Sequential(agent, actors)
  )


class Sequential:
  """collect, then learn (agent.iteration), one iteration after the other."""

  def __init__(self, agent, actors):
    self.agent, self.actors = agent, actors

  def iteration(self, key, state, more: bool = True):
    """(key, state) -> (key, state, metrics) of one iteration."""
    del more
    key, it_key = jax.random.split(key)
    state, metrics = guarded(self.agent.iteration)(state, self.actors, it_key)
    self.actors.episodes.settle()
    return key, state, metrics

  def close(self, then: Optional[Callable[[], None]] = None):
    """Runs `then` (see Overlapped.close)."""
    if then is not None:
      then()


class Overlapped:
  """Actors and learner at the same time (Podracer's Sebulba): while the learner learns from
  rollout k, an actor thread collects rollout k + 1 with the parameters the learner had before
  that update, so the behaviour policy lags the learner by exactly one iteration (always the
  same one: the results do not depend on timing). PPO's ratio uses the stored behaviour
  log-probabilities, so the lag is corrected as in any PPO epoch after the first.

  The actor thread only steps this process's envs and calls local (collective-free) compiled
  steps; every collective stays on the main thread, in the same order on every process.
  """

  def __init__(self, agent, actors, devices):
    self.agent, self.actors = agent, actors
    self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="actor")
    # The learner's steps donate its buffers: the actor acts with its own copy of what acting
    # reads (agent.acting: no optimizer state).
    self._copy = devices.compile_local(lambda t: jax.tree.map(jnp.copy, t))
    self.future = None

  def _submit(self, state, it_key):
    act_key, learn_key = jax.random.split(it_key)
    with jax.transfer_guard("disallow"):
      acting_state = state._replace(learner=self._copy(self.agent.acting(state.learner)))
    self.future = self.pool.submit(guarded(self.agent.collect), acting_state, self.actors, act_key)
    return learn_key

  def iteration(self, key, state, more: bool = True):
    """(key, state) -> (key, state, metrics) of one learner iteration; starts the next
    collection first when `more` iterations follow."""
    if self.future is None:
      key, it_key = jax.random.split(key)
      self.learn_key = self._submit(state, it_key)
    rollout = self.future.result()
    self.actors.episodes.settle()  # before the next collection starts
    learn_key = self.learn_key
    if more:
      key, it_key = jax.random.split(key)
      self.learn_key = self._submit(state, it_key)
    else:
      self.future = None
    state, metrics = guarded(self.agent.learn)(state, rollout, learn_key)
    return key, state, dict(metrics, **{"actor/policy_lag_iterations": 1.0})

  def close(self, then: Optional[Callable[[], None]] = None):
    """Stops the actor thread (a collection in flight ends first). `then` runs on that thread
    before it stops: what must run where the envs were stepped, such as closing them
    (DM-Control frees a renderer's EGL context only on the thread that made it current).
    Idempotent; `then` runs once, on the first call."""
    if self.pool is None:
      return
    try:
      if then is not None:
        self.pool.submit(then).result()
    finally:
      self.pool.shutdown(wait=True, cancel_futures=True)
      self.pool = None
