"""Smoke searches of PPO, Rainbow and SAC, one after the other, in one launcher process.

Run alone (`--cpu_devices=4`) or as one of several processes (`--num_processes=2
--process_id=I --coordinator_address=localhost:PORT --cpu_devices=2`): tests/test_multiprocess.py
compares the two, and the agents' end-to-end tests (and the launchers' discretize -> evaluate ->
report chain) go on from the single process's searches (tests/conftest.py, `smoke_searches`).
Each run uses 4 envs, one group per device.
"""

import gc
import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from darts_rl import cli  # noqa: E402
from tests.launch_process import GC_THRESHOLD  # noqa: E402

gc.set_threshold(*GC_THRESHOLD)  # tests/launch_process.py says why

flags.DEFINE_string("workdir", None, "Root: one workdir per agent below it.")
flags.DEFINE_list("agents", ["ppo", "rainbow", "sac"], "Agents to run, in order.")
flags.DEFINE_integer("total_env_steps", 0, "Budget override (0: the smoke config's).")
flags.DEFINE_bool(
  "kill_at_second_checkpoint",
  False,
  "SIGKILL the training process when it is about to write"
  " its second checkpoint (tests/kill_after_checkpoint.py; only process 0 writes them).",
)
flags.mark_flags_as_required(["workdir"])

EXPERIMENTS = {"ppo": "ppo_procgen", "rainbow": "rainbow_procgen", "sac": "sac_dmc"}


def config_for(agent: str, total: int):
  """The agent's search,smoke config with 4 envs (one per device), evaluated on its first
  split only; SAC's alpha step in the alternating mode (PPO and Rainbow cover joint)."""
  import importlib

  c = importlib.import_module(f"experiments.{EXPERIMENTS[agent]}").get_config("search,smoke")
  c.env.num_envs = 4
  # Every split runs the same evaluation code on other levels or seeds: one split checks how
  # processes gather it, and each split costs its own envs (a GL context per DM-Control env)
  # and episodes. Runs on every split: tests/test_launchers.py and the agents' evaluate runs.
  c.loop.eval_splits = c.loop.eval_splits[:1]
  if agent == "sac":
    c.sac.replay_capacity = 64
    c.arch.mode = "alternating"
  if total:
    c.loop.total_env_steps = total
  return c


@cli.guarded
def main():
  # Imported here: a multi-process run's supervisor (cli.run) never trains, so it skips jax.
  from darts_rl.train import loop

  f = flags.FLAGS
  if f.kill_at_second_checkpoint:  # here: in the supervised child, the process that trains
    from tests import kill_after_checkpoint

    kill_after_checkpoint.install()
  for agent in f.agents:
    loop.run(
      config_for(agent, f.total_env_steps), os.path.join(f.workdir, agent), "search", cli.devices()
    )


if __name__ == "__main__":
  cli.run(main)
