"""Re-evaluate a finished run's final policy with more episodes, or afresh with other seeds.

  python launch/reevaluate.py --workdir=DIR --episodes=256
  python launch/reevaluate.py --workdir=DIR --episodes=64 --seed_offset=1
Works on search, evaluate and random_policy workdirs. Writes DIR/eval_<episodes>.json, or with
--seed_offset=K >= 1 DIR/eval_<episodes>_offset<K>.json: a fresh evaluation on eval envs and
keys that no evaluation with another offset used, the number a report shows for a run that
best-of-N selection picked (its own evaluations were read to pick it).
"""

from absl import flags

from darts_rl import cli
from darts_rl.train import loop

flags.DEFINE_string("workdir", None, "A finished run's workdir.")
flags.DEFINE_integer("episodes", 256, "Evaluation episodes per split.")
flags.DEFINE_integer("seed_offset", 0, "K >= 1: a fresh evaluation with seeds offset by K.")
flags.mark_flags_as_required(["workdir"])


@cli.guarded
def main():
  f = flags.FLAGS
  loop.reevaluate(f.workdir, f.episodes, cli.devices(), f.seed_offset)


if __name__ == "__main__":
  cli.run(main, shown=cli.DEVICE_FLAGS)
