"""What the benchmarks share: devices, an agent built with its actors as the training loop
builds them, the agents' benchmark configs, timing, and the printed table.

  setup(cpu_devices, ...)              before jax starts: forced CPU devices, several processes
  agent_config(agent, encoder, size)   an experiment's config for one agent and encoder
  built(config, devices)               -> Bench(agent, actors, state); the envs closed after
  measure(bench, key, ...)             -> Measure: end-to-end env steps/s of agent.iteration
  seconds_per_call(fn, args, iters)    -> mean seconds of fn(*args) after its warm-up calls

Benchmarks print figures measured in one run; nothing here is a test or a target.
"""

import contextlib
import importlib
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python benchmarks/x.py` from anywhere imports darts_rl, experiments
  sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax import monitoring  # noqa: E402

from darts_rl import distributed, envs, parallel  # noqa: E402
from darts_rl.agents import base as agent_base  # noqa: E402
from darts_rl.agents import make_agent  # noqa: E402
from darts_rl.formatting import format_duration  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402
from darts_rl.train import stepping  # noqa: E402
from darts_rl.train.actors import Actors  # noqa: E402

AGENTS = ("ppo", "rainbow", "sac")
# The experiment file of each agent (experiments/<name>.py) and its baseline encoder.
EXPERIMENTS = {"ppo": "ppo_procgen", "rainbow": "rainbow_procgen", "sac": "sac_dmc"}
BASELINES = {"ppo": "impala", "rainbow": "impala", "sac": "cnn4"}
# baseline: the experiment's `baseline` phase; supernet: its `search` phase (exact DARTS);
# pc4: the same supernet with PC-DARTS mixing 1/4 of each edge's channels.
ENCODERS = ("baseline", "supernet", "pc4")
SIZES = ("full", "demo", "smoke")


def setup(
  cpu_devices: int = 0,
  coordinator_address: str = "",
  num_processes: int = 1,
  process_id: int = 0,
  compilation_cache: str = "",
  min_compile_s: float = 1.0,
):
  """Devices for this process; call before anything starts jax's backend.

  cpu_devices=N: N forced CPU devices (even on a GPU machine); num_processes > 1 joins the
  others (darts_rl.distributed.initialize, gloo collectives on CPU). compilation_cache: a
  directory for XLA's persistent cache, so cells that compile the same programs compile once
  (those that take min_compile_s or more to compile).
  """
  if cpu_devices:
    # JAX_PLATFORMS (set by force_cpu_devices) is read when jax is imported: too late here.
    jax.config.update("jax_platforms", "cpu")
  distributed.initialize(coordinator_address, num_processes, process_id, cpu_devices)
  if compilation_cache:
    jax.config.update("jax_compilation_cache_dir", compilation_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_s)


def describe_devices() -> str:
  d = jax.local_devices()
  return (
    f"{jax.default_backend()}: {len(d)} x {d[0].device_kind} per process, "
    f"{jax.process_count()} process(es); jax {jax.__version__}"
  )


# ---------------------------------------------------------------------------- configs


def agent_config(agent: str, encoder: str, size: str):
  """experiments/<agent's file>.py at `size` (full | demo | smoke) with `encoder` (ENCODERS)."""
  if agent not in AGENTS or encoder not in ENCODERS or size not in SIZES:
    raise ValueError(
      f"unknown agent / encoder / size {agent} / {encoder} / {size}; valid: "
      f"{AGENTS} / {ENCODERS} / {SIZES}"
    )
  module = importlib.import_module(f"experiments.{EXPERIMENTS[agent]}")
  c = module.get_config(f"{'baseline' if encoder == 'baseline' else 'search'},{size}")
  if encoder == "pc4":
    c.encoder.partial_channels = 4
  # Off-policy learners start at once (Rainbow still waits for one n-step window per env):
  # a benchmark times acting and learning, not the replay filling up.
  for name in ("rainbow", "sac"):
    if name in c:
      c[name].learning_starts = 0
  return envs.with_task_defaults(c)


def encoder_name(agent: str, encoder: str) -> str:
  return BASELINES[agent] if encoder == "baseline" else encoder


# ---------------------------------------------------------------------------- agent + actors


class Bench:
  """An agent, this process's env groups and the agent state, as the training loop has them."""

  def __init__(self, agent, actors: Actors, state: agent_base.AgentState, config, devices):
    self.agent, self.actors, self.state = agent, actors, state
    self.config, self.devices = config, devices


def synthetic_spec(
  observation_shape,
  action_spec,
  num_envs: int,
  devices: parallel.Devices,
  games: Sequence[str] = ("synthetic",),
  reward_scale: Optional[Sequence[float]] = None,
) -> agent_base.EnvSpec:
  """What an agent is told about envs it never steps (learner-only runs, e.g. on a machine
  without Procgen or MuJoCo): num_envs split over the devices, each group's rows spread evenly
  over `games`."""
  n = num_envs // devices.count
  group_ids = np.repeat(np.arange(len(games), dtype=np.int32), n // len(games))
  scale = np.ones(len(games)) if reward_scale is None else reward_scale
  return agent_base.EnvSpec(
    tuple(observation_shape),
    action_spec,
    num_envs,
    n,
    np.tile(group_ids, devices.count),
    tuple(games),
    np.asarray(scale, np.float32),
  )


def synthetic_ppo_batch(num_steps: int, num_envs: int, observation_shape, num_actions: int, seed=0):
  """A PPO rollout of random frames, actions, rewards and episode ends (host arrays): what a
  learner-only run updates on."""
  from darts_rl.agents.ppo import Batch

  T, N, shape = num_steps, num_envs, tuple(observation_shape)
  rng = np.random.default_rng(seed)
  return Batch(
    obs=rng.integers(0, 256, (T, N) + shape, dtype=np.uint8),
    actions=rng.integers(0, num_actions, (T, N)).astype(np.int32),
    logp=np.full((T, N), -np.log(num_actions), np.float32),
    values=rng.normal(size=(T, N)).astype(np.float32),
    rewards=rng.normal(size=(T, N)).astype(np.float32),
    dones=rng.uniform(size=(T, N)) < 0.01,
    next_obs=rng.integers(0, 256, (N,) + shape, dtype=np.uint8),
  )


def ppo_learner_samples_per_s(config, devices: parallel.Devices, iters: int = 1) -> float:
  """The PPO learner alone at `config`'s shapes, on a synthetic batch (no env libraries: runs
  on a bare accelerator box): samples x epochs / seconds of one update."""
  from darts_rl.envs import DiscreteActions

  T, N, obs = config.ppo.num_steps, config.env.num_envs, (64, 64, 3)
  games = tuple(config.env.games)
  spec = synthetic_spec(obs, DiscreteActions(15), N, devices, games)
  agent = make_agent(config, make_encoder(config.encoder, arch=config.arch), spec, devices)
  batch = agent.place_batch(synthetic_ppo_batch(T, N, obs, 15))
  box = {"learner": devices.replicate(agent.init(jax.random.PRNGKey(0)).learner), "i": 0}

  def update():  # the update donates the learner: thread it through
    box["i"] += 1
    box["learner"], _ = agent.update(box["learner"], batch, jax.random.PRNGKey(box["i"]))
    return box["learner"]

  return T * N * config.ppo.num_epochs / seconds_per_call(update, (), iters)


@contextlib.contextmanager
def built(config, devices: parallel.Devices, make: Optional[Callable] = None):
  """Yields a Bench built as darts_rl/train/loop.py builds a run (encoder, actors of the
  'train' split, make_agent, fresh state replicated on the devices); closes the envs after.
  make: an env factory for Actors (tests), else the real envs."""
  encoder = make_encoder(config.encoder, arch=config.arch)
  kwargs = {} if make is None else {"make": make}
  actors = Actors(config.env, config.seed, "train", devices, **kwargs)
  try:
    agent = make_agent(config, encoder, actors.spec, devices)
    state = agent_base.to_devices(agent.init(jax.random.PRNGKey(config.seed)), devices)
    yield Bench(agent, actors, state, config, devices)
  finally:
    actors.close()


# ---------------------------------------------------------------------------- timing


def block(tree):
  """Waits for every device array in `tree`."""
  jax.block_until_ready([x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)])


def seconds_per_call(
  fn: Callable, args: Sequence[Any] = (), iters: int = 1, warmup: int = 1
) -> float:
  """Mean wall time of fn(*args) over `iters` calls after `warmup` untimed calls (the first
  compiles)."""
  for _ in range(warmup):
    block(fn(*args))
  t = time.perf_counter()
  for _ in range(iters):
    out = fn(*args)
  block(out)
  return (time.perf_counter() - t) / iters


class Measure(NamedTuple):
  env_steps_per_s: float  # end to end: env steps of the timed iterations / their wall time
  iterations: int  # timed iterations
  seconds: float  # their wall time
  warmup_iterations: int
  warmup_s: float  # wall time of the warm-up (compilation included)
  rollout_s: float  # split=True: time inside actors.rollout (acting + envs); else NaN
  compiles: int  # XLA compilations during the timed iterations (should be 0)
  transfers: Optional["Transfers"] = None  # host <-> device copies of the timed iterations


def _nbytes(x) -> int:
  # .nbytes of a device array reads its shape only (np.asarray would copy it to the host).
  return x.nbytes if hasattr(x, "nbytes") else np.asarray(x).nbytes


class Transfers:
  """Counts the host <-> device copies made while active (a context manager): calls and bytes
  of `Devices.put` / `replicate` (host to device) and `jax.device_get` (device to host).

  The loop's iterations run under jax.transfer_guard("disallow") (darts_rl/train/stepping.py),
  where any implicit copy fails, so these explicit calls are all of an iteration's copies.
  A call made inside another counted call (Devices.shard -> put) counts once.
  """

  def __init__(self, devices: parallel.Devices):
    self.devices = devices
    self.h2d = self.d2h = self.h2d_bytes = self.d2h_bytes = 0
    self._lock = threading.Lock()
    self._depth = threading.local()

  def _counted(self, fn, direction, copies=1):
    def run(*args, **kwargs):
      depth = getattr(self._depth, "n", 0)
      self._depth.n = depth + 1
      try:
        out = fn(*args, **kwargs)
      finally:
        self._depth.n = depth
      if depth == 0:
        tree = out if direction == "d2h" else args[0]
        size = sum(_nbytes(x) for x in jax.tree.leaves(tree)) * copies
        with self._lock:
          setattr(self, direction, getattr(self, direction) + 1)
          setattr(self, direction + "_bytes", getattr(self, direction + "_bytes") + size)
      return out

    return run

  def __enter__(self):
    d = self.devices
    d.put = self._counted(type(d).put.__get__(d), "h2d")
    d.replicate = self._counted(type(d).replicate.__get__(d), "h2d", d.local_count)
    self._device_get = jax.device_get
    jax.device_get = self._counted(self._device_get, "d2h")
    return self

  def __exit__(self, *exc):
    del self.devices.put, self.devices.replicate  # the class's methods again
    jax.device_get = self._device_get

  def per_iteration(self, iterations: int) -> Dict[str, float]:
    """{'h2d', 'd2h': copies per iteration, 'h2d_MB', 'd2h_MB': megabytes per iteration}."""
    n = max(iterations, 1)
    return {
      "h2d": self.h2d / n,
      "d2h": self.d2h / n,
      "h2d_MB": self.h2d_bytes / n / 1e6,
      "d2h_MB": self.d2h_bytes / n / 1e6,
    }


_compiles = [0]  # XLA backend compilations in this process so far


def _count_compile(event: str, duration_s: float, **kwargs):
  if event == "/jax/core/compile/backend_compile_duration":
    _compiles[0] += 1


monitoring.register_event_duration_secs_listener(_count_compile)


class _RolloutClock:
  """Adds up the wall time of an Actors' rollout calls (wraps the instance's method)."""

  def __init__(self, actors: Actors):
    self.actors, self.seconds, self.rollout = actors, 0.0, actors.rollout
    actors.rollout = self

  def __call__(self, *args, **kwargs):
    t = time.perf_counter()
    out = self.rollout(*args, **kwargs)
    self.seconds += time.perf_counter() - t
    return out

  def close(self):
    del self.actors.rollout  # the class's method again


def measure(
  bench: Bench,
  key,
  min_iters: int = 1,
  min_seconds: float = 0.0,
  extra_warmup: int = 1,
  split: bool = False,
  max_warmup: int = 100_000,
) -> Measure:
  """End-to-end env steps/s of `bench.agent.iteration` on `bench.actors` (acting, envs,
  learning), the way the loop calls it: no waiting for the devices between iterations.

  Warm-up (untimed): iterations until the learner has run once (Rainbow and SAC wait for their
  replay), then `extra_warmup` more, so compilation is over. Timed: at least `min_iters`
  iterations and at least `min_seconds` (several processes must pass min_seconds=0: every
  process has to run the same number of iterations). split=True waits for the devices after
  every iteration and times actors.rollout apart (acting + env steps; the rest is learning):
  a breakdown, not the end-to-end figure.
  """
  agent = bench.agent
  clock = _RolloutClock(bench.actors) if split else None
  count = 0
  # The loop's own iteration (darts_rl/train/stepping.py): actors and learner one after the
  # other, or at the same time with loop.overlap=on.
  acting = stepping.make(
    agent, bench.actors, bench.devices, bench.config.loop.get("overlap", "off")
  )

  def step():
    nonlocal count, key
    key, bench.state, metrics = acting.iteration(key, bench.state)
    count += 1
    if split:
      block((bench.state, metrics))
    return metrics

  try:
    t0 = time.perf_counter()
    learned = 0
    while learned <= extra_warmup:
      learned += bool(step())
      if count > max_warmup:
        raise RuntimeError(f"the learner did not run within {max_warmup} iterations")
    block(bench.state)
    warm_iters, warm_s = count, time.perf_counter() - t0
    if clock:
      clock.seconds = 0.0
    compiles = _compiles[0]
    transfers = Transfers(bench.devices) if bench.devices is not None else None
    t1 = time.perf_counter()
    with transfers or contextlib.nullcontext():
      while count - warm_iters < max(1, min_iters) or time.perf_counter() - t1 < min_seconds:
        metrics = step()
      block((bench.state, metrics))
    seconds = time.perf_counter() - t1
  finally:
    acting.close()
    if clock:
      clock.close()
  n = count - warm_iters
  return Measure(
    n * agent.env_steps_per_iteration / seconds,
    n,
    seconds,
    warm_iters,
    warm_s,
    clock.seconds if clock else math.nan,
    _compiles[0] - compiles,
    transfers,
  )


# ---------------------------------------------------------------------------- output


def ratio(a: Optional[float], b: Optional[float]) -> str:
  """a / b to 3 digits, or 'n/a' when either is missing."""
  if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
    return "n/a"
  return f"{a / b:.3f}"


def table(header: Sequence[str], rows: List[Sequence[Any]]) -> str:
  """A Markdown table (pastes into RESULTS.md as it is)."""
  cells = [[str(x) for x in header]] + [[str(x) for x in r] for r in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
  line = lambda r: "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"
  return "\n".join(
    [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    + [line(r) for r in cells[1:]]
  )


def projection(total_env_steps: float, env_steps_per_s: float) -> str:
  """Projected wall time of a budget at a measured rate (no compilation, evaluation or
  checkpoints)."""
  if not env_steps_per_s or math.isnan(env_steps_per_s):
    return "n/a"
  return format_duration(total_env_steps / env_steps_per_s)


def config_summary(config) -> Dict[str, Any]:
  """The fields that size a run, for the printed header and the JSON."""
  out = {
    "envs": config.env.num_envs,
    "channels": tuple(config.encoder.channels),
    "partial_channels": config.encoder.partial_channels,
  }
  if "ppo" in config:
    p = config.ppo
    out.update(num_steps=p.num_steps, minibatches=p.num_minibatches, epochs=p.num_epochs)
  for name in ("rainbow", "sac"):
    if name in config:
      out.update(
        batch=config[name].batch_size, updates_per_iteration=config[name].updates_per_iteration
      )
  return out
