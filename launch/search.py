"""Search: train an agent whose encoder is a DARTS supernet; log alphas; checkpoint.

  python launch/search.py --config=experiments/ppo_procgen.py:search --workdir=DIR \
      [--config.env.games=bigfish --config.arch.mode=alternating ...]
Rerun the same command to resume after a kill.
"""

from absl import flags

from darts_rl import cli
from darts_rl.train import loop

cli.define_config_flag()
flags.DEFINE_string("workdir", None, "Output directory of this phase.")
flags.mark_flags_as_required(["config", "workdir"])


@cli.guarded
def main():
  loop.run(flags.FLAGS.config, flags.FLAGS.workdir, "search", cli.devices())


if __name__ == "__main__":
  cli.run(main, shown=cli.DEVICE_FLAGS)
