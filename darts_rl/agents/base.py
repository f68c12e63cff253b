"""The agent contract: what the training loop, the actors and evaluation may call.

An agent is built from the config, its encoder (`make_encoder`) and an `EnvSpec`, and runs
on a `parallel.Devices` layout. The loop only ever does:

    state = agent.init(key)                              # AgentState, learner on the host
    state = agent.resumed(restored, env_steps)            # or a checkpoint's, on a resume
    state = place(state, devices)                         # learner replicated on the devices
    state, metrics = agent.iteration(state, actors, key)  # collect (act), then learn
    agent.log_scalars(state)                              # counters at a log step

and evaluation calls the pure `agent.eval_act` inside the actors' compiled step, given
`agent.acting(learner)`: the parameters acting reads, never the optimizer states. Learner
state travels whole (a NamedTuple of the agent's, always with fields `alphas` and
`arch_opt_state`); jitted learner steps are pure (state, batch, key) -> (state, metrics)
closures that read no `self` state that changes. Replay buffers are explicit state
(`AgentState.replay`, built by darts_rl/agents/replay.py), sharded one per device and never
checkpointed. Metrics stay on the devices until the loop reads them at a log step.
"""

import functools
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Tuple, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl.agents import optim


class EnvSpec(NamedTuple):
  """What an agent is told about its training envs: all of the run's envs, every device and
  process together, in global row order (env group by env group)."""

  observation_shape: Tuple[int, ...]  # (H, W, C), uint8 observations
  action_spec: Any  # envs.DiscreteActions | envs.BoxActions
  num_envs: int  # envs of the whole run (config env.num_envs)
  envs_per_group: int  # envs stepped by one device
  game_ids: np.ndarray  # [num_envs] int32 index into game_names
  game_names: Tuple[str, ...]
  reward_scale: np.ndarray  # [len(game_names)] per-game max reward (1 where none)


class Batches(NamedTuple):
  """The minibatches of one learner update (every agent, every arch mode)."""

  weights: Any  # the weight step's minibatch (joint mode: the alphas' too)
  alphas: Optional[Any] = None  # alternating mode: an independent minibatch for the alphas


class AgentState(NamedTuple):
  """Everything an agent carries between iterations."""

  learner: Any  # the agent's learner NamedTuple; on devices: [L, ...] copies
  host: Any  # host-side numpy state, identical on every process
  replay: Any = None  # replay shards on the devices (Rainbow, SAC); not checkpointed


Metrics = Dict[str, Any]  # scalars: device arrays ([L] copies) or Python floats


@runtime_checkable
class Agent(Protocol):
  """PPO, Rainbow and SAC follow this (tests/test_agents.py checks it)."""

  spec: EnvSpec
  env_steps_per_iteration: int  # env steps of one iteration, all envs of the run
  opt: Any  # agents.optim.DualOptimizer: weights and alphas (+ options)

  def init(self, key) -> AgentState:
    """Fresh state: learner on the host (unreplicated), host state, replay None."""
    ...

  def act(self, learner, obs, keys, inputs) -> Tuple[Any, Dict[str, Any]]:
    """Training behaviour policy, pure, on one device's env group: obs [n, H, W, C] uint8,
    keys [n] one PRNG key per env row (drawn from the row's global index), `inputs` the
    iteration's per-device policy inputs -> (actions [n, ...], extras {name: [n]} kept in the
    rollout, e.g. log-probs and values)."""
    ...

  def eval_act(self, learner, obs, keys) -> Any:
    """Evaluation policy (the paper's protocol), pure: -> actions [n, ...]."""
    ...

  def acting(self, learner) -> Any:
    """What act and eval_act read of the learner: the same tree with the other fields None
    (the acting step's arguments, and what an overlapped actor copies)."""
    ...

  def collect(self, state: AgentState, actors, key):
    """Acts with `actors` (darts_rl.train.actors.Actors) for one iteration -> a Rollout.
    Reads `state` but changes nothing: it may run on the actor thread, one iteration ahead
    of `learn` (loop.overlap), with the learner's previous parameters."""
    ...

  def learn(self, state: AgentState, rollout, key) -> Tuple[AgentState, Metrics]:
    """Takes in a Rollout (host-side bookkeeping, replay) and updates the learner."""
    ...

  def iteration(self, state: AgentState, actors, key) -> Tuple[AgentState, Metrics]:
    """collect, then learn: one iteration of `env_steps_per_iteration` env steps."""
    ...

  def log_scalars(self, state: AgentState) -> Dict[str, float]:
    """Scalars describing the state at a log step (counters, schedules); may read devices."""
    ...

  def resumed(self, state: AgentState, env_steps: int) -> AgentState:
    """The state restored from a checkpoint at `env_steps`, made ready to go on (host side)."""
    ...


class AgentBase:
  """What every agent shares: an iteration is `collect` then `learn`; the actors get only the
  learner fields that acting reads (`acting`)."""

  # The learner fields that act / eval_act read; the others (optimizer states, targets) never
  # reach the acting step.
  acting_fields: Tuple[str, ...] = ("params", "alphas")

  @functools.cached_property
  def compiled_acting(self) -> Dict[Any, Any]:
    """The acting and evaluation steps compiled for this agent (the run's Actors.compiled),
    kept with it: a run that reuses the agent (agents.reused_agent) reuses them too."""
    return {}

  def acting(self, learner):
    """The learner with only `acting_fields` kept (the others None): what act and eval_act
    receive. A field acting reads but that is not listed fails at trace time, loudly."""
    return learner._replace(**{f: None for f in learner._fields if f not in self.acting_fields})

  def iteration(self, state: AgentState, actors, key) -> Tuple[AgentState, Metrics]:
    act_key, learn_key = jax.random.split(key)
    return self.learn(state, self.collect(state, actors, act_key), learn_key)

  def resolved_options(self) -> Dict[str, str]:
    """Options whose `auto` value this agent resolved (name -> what it chose), for the log."""
    return {}

  # (env steps per iteration, learner updates per iteration, learning_starts): the agent's
  # arch updates (`arch_updates`); set by agents that search.
  arch_plan: Optional[Tuple[int, int, int]] = None

  def resumed(self, state: AgentState, env_steps: int) -> AgentState:
    """The restored state of a run resumed at `env_steps` (host side): the arch options'
    progress re-planned on the arch updates the run will still make (Rainbow and SAC refill
    their replay first, so they make fewer than a run that never stopped; DualOptimizer.replan)."""
    if self.arch_plan is None:
      return state
    remaining = arch_updates(self.config, *self.arch_plan, from_env_steps=env_steps)
    dual = self.opt.replan(optim.DualState.of(state.learner), remaining)
    return state._replace(learner=dual.into(state.learner))


def arch_updates(
  config,
  env_steps_per_iteration: int,
  updates_per_iteration: int,
  learning_starts: int = 0,
  from_env_steps: int = 0,
) -> int:
  """The number of alpha steps a run makes from env step `from_env_steps` (0: the whole run;
  for the arch options that follow the search's progress): learner updates from
  `learning_starts` env steps later (the replay filling from empty, also after a resume) to the
  budget."""
  steps = max(int(config.loop.total_env_steps) - int(from_env_steps) - int(learning_starts), 0)
  return max(1, -(-steps // env_steps_per_iteration) * updates_per_iteration)


def update_keys(key, n: int):
  """[n] keys, key u = fold_in(key, u): one per learner update of an iteration. Computed on
  the key's device: a Python int folded in outside a compiled step is an implicit upload."""
  return jax.vmap(lambda u: jax.random.fold_in(key, u))(jnp.arange(n))


def mean_metrics(metrics: List[Metrics], devices) -> Metrics:
  """Each name's mean over the updates' metrics that report it (device scalars [L], averaged
  on the devices: one compiled call, no copy through the host)."""
  if len(metrics) == 1:
    return metrics[0]
  names = dict.fromkeys(k for m in metrics for k in m)
  return devices.mean({k: [m[k] for m in metrics if k in m] for k in names})


def to_devices(state: AgentState, devices) -> AgentState:
  """The learner replicated on every local device (the other parts stay as they are)."""
  return state._replace(learner=devices.replicate(state.learner))


def to_host(state: AgentState, devices) -> Dict[str, Any]:
  """What a checkpoint keeps: the learner (one copy) and the host state; never the replay."""
  return {"learner": devices.unreplicate(state.learner), "host": state.host}


def from_host(saved: Dict[str, Any], devices) -> AgentState:
  return AgentState(devices.replicate(saved["learner"]), saved["host"], None)
