"""The agent contract: PPO, Rainbow and SAC follow the Agent Protocol (darts_rl/agents/base.py),
their learner states are NamedTuples with the fields the loop reads, and their jitted steps
are pure closures (no state on `self` changes when they run)."""

import inspect

import jax
import numpy as np
import pytest

from darts_rl import parallel
from darts_rl.agents import AGENTS, base, make_agent
from darts_rl.envs.base import BoxActions, DiscreteActions
from darts_rl.networks import make_encoder

EXPERIMENTS = {"ppo": "ppo_procgen", "rainbow": "rainbow_procgen", "sac": "sac_dmc"}


def build(name, **arch):
  import importlib

  c = importlib.import_module(f"experiments.{EXPERIMENTS[name]}").get_config("search,smoke")
  c.arch.update(arch)
  obs, actions = (
    ((16, 16, 9), BoxActions((2,), -1.0, 1.0))
    if name == "sac"
    else ((16, 16, 3), DiscreteActions(15))
  )
  spec = base.EnvSpec(obs, actions, 4, 4, np.zeros(4, np.int32), ("g",), np.ones(1, np.float32))
  return make_agent(c, make_encoder(c.encoder), spec, parallel.Devices(1))


@pytest.mark.parametrize("name", AGENTS)
def test_agents_follow_the_protocol(name):
  agent = build(name)
  assert isinstance(agent, base.Agent)
  methods = ("init", "act", "eval_act", "acting", "collect", "learn", "iteration", "log_scalars")
  for method in methods:
    want = list(inspect.signature(getattr(base.Agent, method)).parameters)[1:]
    have = list(inspect.signature(getattr(agent, method)).parameters)
    assert len(have) == len(want), (method, have, want)
  state = agent.init(jax.random.PRNGKey(0))
  assert isinstance(state, base.AgentState) and state.replay is None
  learner = state.learner
  assert hasattr(learner, "_fields") and {"alphas", "arch_opt_state"} <= set(learner._fields)
  assert agent.env_steps_per_iteration % agent.spec.num_envs == 0
  # What the loop logs at a fresh state is plain floats.
  on_devices = base.to_devices(state, agent.devices)
  assert all(isinstance(v, float) for v in agent.log_scalars(on_devices).values())
  # The actors get what acting reads, never an optimizer state, and act runs on it.
  got = {}

  class Actors:
    def rollout(self, act, learner, num_steps, key, inputs=None):
      got.update(act=act, learner=learner, inputs=inputs)

  agent.collect(on_devices, Actors(), jax.random.PRNGKey(1))
  kept = {f for f, v in got["learner"]._asdict().items() if v is not None}
  assert kept == set(agent.acting_fields) and "params" in kept
  assert not any("opt_state" in f for f in kept)
  one = lambda tree: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), tree)
  obs = jax.ShapeDtypeStruct((4,) + agent.spec.observation_shape, np.uint8)
  keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), 4))
  jax.eval_shape(got["act"], one(got["learner"]), obs, keys, one(got["inputs"]))
  jax.eval_shape(agent.eval_act, agent.acting(learner), obs, keys)


def test_make_agent_names_the_valid_agents():
  from experiments.ppo_procgen import get_config

  c = get_config("search,smoke")
  c.agent = "dqn"
  with pytest.raises(ValueError, match="unknown agent 'dqn'; valid agents: ppo, rainbow, sac"):
    make_agent(c, None, None, None)


def _primitives(jaxpr, in_cond=False):
  """(primitive name, whether inside a lax.cond branch) of every equation, nested ones too."""
  for eqn in jaxpr.eqns:
    yield eqn.primitive.name, in_cond
    inner = in_cond or eqn.primitive.name == "cond"
    for v in eqn.params.values():
      for sub in v if isinstance(v, (tuple, list)) else (v,):
        sub = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's Jaxpr
        if hasattr(sub, "eqns"):
          yield from _primitives(sub, inner)


@pytest.mark.parametrize("name", ["rainbow", "sac"])
def test_the_collapse_monitor_s_probe_is_decided_on_the_host(name):
  """With the monitor on, the learner step is compiled twice (optim.ProbedStep): without the
  probe, and with it at the top level of the program, never inside a lax.cond, whose branch
  XLA:CPU runs tens of times slower. (PPO's minibatch step: the launchers' kill/resume test.)"""
  agent = build(name, eigen_every_updates=2, eigen_iterations=2)  # 2 Lanczos steps: less to trace
  assert sorted(agent._learn._fns) == [False, True]
  d = agent.devices
  learner = base.to_devices(agent.init(jax.random.PRNGKey(0)), d).learner
  args = (learner, agent.empty_replay().buffer, d.broadcast(jax.random.PRNGKey(1)))
  probed = jax.make_jaxpr(agent._learn._fns[True])(*args).jaxpr
  # The Lanczos step's small eigensolve: once, outside every cond.
  assert [in_cond for p, in_cond in _primitives(probed) if p == "eigh"] == [False]
