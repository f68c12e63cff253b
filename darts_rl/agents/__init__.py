"""Agents: PPO, Rainbow and SAC behind one contract (darts_rl/agents/base.py). The shared loop
(darts_rl/train/loop.py) runs any of them."""

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
