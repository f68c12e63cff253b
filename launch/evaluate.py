"""Evaluate: retrain a fixed encoder (a genotype, or a baseline) from scratch, then evaluate.

  python launch/evaluate.py --config=experiments/ppo_procgen.py:evaluate \
      --config.encoder.genotype=SEARCH_DIR/genotype.json --workdir=DIR
  python launch/evaluate.py --config=experiments/ppo_procgen.py:baseline --workdir=DIR
  python launch/evaluate.py --config=experiments/ppo_procgen.py:baseline --random_policy \
      --workdir=DIR
"""

from absl import flags

from darts_rl import cli
from darts_rl.train import loop

cli.define_config_flag()
flags.DEFINE_string("workdir", None, "Output directory of this phase.")
flags.DEFINE_bool("random_policy", False, "Evaluate a uniform random policy instead (no training).")
flags.mark_flags_as_required(["config", "workdir"])


@cli.guarded
def main():
  f = flags.FLAGS
  if f.random_policy:
    loop.evaluate_random_policy(f.config, f.workdir, cli.devices())
  else:
    loop.run(f.config, f.workdir, "evaluate", cli.devices())


if __name__ == "__main__":
  cli.run(main, shown=cli.DEVICE_FLAGS)
