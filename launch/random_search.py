"""Random search: sample genotypes uniformly from the config's space, evaluate each.

  python launch/random_search.py --config=experiments/ppo_procgen.py:search \
      --workdir=DIR --num_trials=20 [--parallel=2]
The config is a search config: trials sample its space and train each genotype with the
evaluate protocol (an evaluate config works only with every space-shape field set).
Rerun the same command (or a larger --num_trials) to resume or extend; finished trials are kept.
"""
from absl import flags

from darts_rl import cli, random_search

cli.define_config_flag()
flags.DEFINE_string("workdir", None, "Output directory of the random search.")
flags.DEFINE_integer("num_trials", None, "Trials (sampled architectures) to finish in total.")
flags.DEFINE_integer("parallel", 1, "Trials run at once, each in its own process (1: in this one).")
flags.mark_flags_as_required(["config", "workdir", "num_trials"])


@cli.guarded
def main():
  f = flags.FLAGS
  random_search.run(f.config, f.workdir, f.num_trials, f.parallel)


if __name__ == "__main__":
  cli.run(main)
