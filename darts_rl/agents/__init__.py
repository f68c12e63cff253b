"""Agents: PPO, Rainbow and SAC behind one contract (darts_rl/agents/base.py). The shared loop
(darts_rl/train/loop.py) runs any of them."""

import collections
import json

import numpy as np

AGENTS = ("ppo", "rainbow", "sac")


def make_agent(config, encoder_spec, spec, devices):
  """config.agent's agent for the run's envs (`spec`, agents.base.EnvSpec) on `devices`."""
  name = config.agent
  if name == "ppo":
    from darts_rl.agents.ppo import PPO

    return PPO(config, encoder_spec, spec, devices)
  if name == "rainbow":
    from darts_rl.agents.rainbow import Rainbow

    return Rainbow(config, encoder_spec, spec, devices)
  if name == "sac":
    from darts_rl.agents.sac import SAC

    return SAC(config, encoder_spec, spec, devices)
  raise ValueError(f"unknown agent '{name}'; valid agents: {', '.join(AGENTS)}")


# The agents of this process's latest runs (`reused_agent`), oldest first.
_RECENT: "collections.OrderedDict" = collections.OrderedDict()
RECENT_AGENTS = 4


def reused_agent(config, encoder_spec, spec, devices):
  """make_agent's agent, or the one a recent run of this process built from the same config
  (its seed aside), encoder, envs and devices.

  An agent is fixed once built (darts_rl/agents/base.py: its compiled steps are pure and it
  holds no state of a run), so runs in one process (a study's seeds, a search then its
  re-evaluation) may share it, and with it its compiled steps and acting programs
  (`AgentBase.compiled_acting`): tracing and lowering a supernet's steps costs seconds per
  run, and no cache on disk saves that. No agent reads config.seed; the seed reaches a run
  through its keys and envs. The last RECENT_AGENTS agents are kept."""
  key = _agent_key(config, encoder_spec, spec, devices)
  agent = _RECENT.pop(key, None)
  if agent is None:
    agent = make_agent(config, encoder_spec, spec, devices)
  _RECENT[key] = agent
  while len(_RECENT) > RECENT_AGENTS:
    _RECENT.popitem(last=False)
  return agent


def _agent_key(config, encoder_spec, spec, devices) -> tuple:
  """Everything make_agent's result depends on, as a hashable value: the config but its seed,
  the fixed encoder's genotype (the only part of the encoder not in the config), the env spec
  and the devices."""
  c = config.to_dict()
  c.pop("seed", None)
  genotype = encoder_spec.genotype
  env = tuple(
    np.asarray(v).tobytes() + str(np.asarray(v).dtype).encode()
    if isinstance(v, np.ndarray)
    else repr(v)
    for v in spec
  )
  layout = tuple((d.process_index, d.id) for d in devices.devices)
  return (
    json.dumps(c, sort_keys=True, default=repr),
    None if genotype is None else genotype.to_json(),
    env,
    layout,
    devices.local_count,
    devices.process_index,
  )
