"""Agents: each has init(key), act(state, obs, key, evaluation), iteration(state, runner, key)
-> (state, metrics), update_step(state, batch, key) -> (state, metrics), and
env_steps_per_iteration. The shared loop (darts_rl/loop.py) runs any of them."""
AGENTS = ("ppo", "rainbow", "sac")


def make_agent(config, encoder_spec, env):
  name = config.agent
  if name == "ppo":
    from darts_rl.agents.ppo import PPO
    return PPO(config, encoder_spec, env.observation_shape, env.action_spec, env.num_envs)
  if name == "rainbow":
    from darts_rl.agents.rainbow import Rainbow
    return Rainbow(config, encoder_spec, env)
  if name == "sac":
    from darts_rl.agents.sac import SAC
    return SAC(config, encoder_spec, env.observation_shape, env.action_spec, env.num_envs)
  raise ValueError(f"unknown agent '{name}'; valid agents: {', '.join(AGENTS)}")
