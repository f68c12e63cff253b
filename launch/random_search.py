"""Random search: sample genotypes uniformly from the config's space, evaluate each, select the
best on validation levels and evaluate it afresh on test levels.

  python launch/random_search.py --config=experiments/ppo_procgen.py:search \
      --workdir=DIR --num_trials=20 [--parallel=2] [--devices_per_trial=1] \
      [--executor=ray --ray_address=auto]
The config is a search config: trials sample its space and train each genotype with the
evaluate protocol (an evaluate config works only with every space-shape field set).
Rerun the same command (or a larger --num_trials) to resume or extend; finished trials are kept.
"""

from absl import flags

from darts_rl import cli, random_search
from darts_rl.sweep import options

cli.define_config_flag()
flags.DEFINE_string("workdir", None, "Output directory of the random search.")
flags.DEFINE_integer("num_trials", None, "Trials (sampled architectures) to finish in total.")
options.define_flags()
flags.mark_flags_as_required(["config", "workdir", "num_trials"])


@cli.guarded
def main():
  f = flags.FLAGS
  random_search.run(f.config, f.workdir, f.num_trials, options.from_flags())


if __name__ == "__main__":
  cli.run(main, shown=options.FLAGS)
