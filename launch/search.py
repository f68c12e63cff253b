"""Search: train an agent whose encoder is a DARTS supernet; log alphas; checkpoint.

  python launch/search.py --config=experiments/ppo_procgen.py:search --workdir=DIR \
      [--config.env.games=bigfish, --config.arch.update=alternating ...]
Rerun the same command to resume after a kill.
"""
from absl import app, flags
from ml_collections import config_flags

from darts_rl import cli
from darts_rl.train import loop

config_flags.DEFINE_config_file("config", None, "Experiment config file[:variant].",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Output directory of this phase.")
flags.mark_flags_as_required(["config", "workdir"])


@cli.guarded
def main():
  loop.run(flags.FLAGS.config, flags.FLAGS.workdir, "search", cli.devices())


if __name__ == "__main__":
  app.run(main)
