"""Re-evaluate a finished run's final policy with more episodes (a tighter estimate).

  python launch/reevaluate.py --workdir=DIR --episodes=256
Works on search, evaluate and random_policy workdirs; writes DIR/eval_<episodes>.json.
"""
from absl import flags

from darts_rl import cli
from darts_rl.train import loop

flags.DEFINE_string("workdir", None, "A finished run's workdir.")
flags.DEFINE_integer("episodes", 256, "Evaluation episodes per split.")
flags.mark_flags_as_required(["workdir"])


@cli.guarded
def main():
  loop.reevaluate(flags.FLAGS.workdir, flags.FLAGS.episodes, cli.devices())


if __name__ == "__main__":
  cli.run(main)
