"""Run one phase for several seeds: the unit that reports compare across methods.

  python launch/seeds.py --phase=evaluate --config=experiments/ppo_procgen.py:baseline \
      --seeds=0,1,2 --workdir=W/impala_seeds [--parallel=2] [--executor=ray]
  python launch/seeds.py --phase=search --config=experiments/ppo_procgen.py:search \
      --seeds=0-2 --workdir=W/search_seeds
  python launch/seeds.py --phase=evaluate --config=experiments/ppo_procgen.py:evaluate \
      --config.encoder.genotype=W/search_seeds/seed_{seed}/genotype.json \
      --seeds=0-2 --workdir=W/searched_seeds
Writes W/seed_<S>/ (a normal workdir of the phase, config.seed = S, plus its fresh
evaluation) and W/seeds.jsonl. Rerun to resume, or with more seeds to extend.
"""

from absl import flags

from darts_rl import cli, seeds
from darts_rl.sweep import options

cli.define_config_flag()
flags.DEFINE_enum("phase", None, seeds.PHASES, "The phase each seed runs.")
flags.DEFINE_string("seeds", None, "Seeds: 0,1,2 or 0-4.")
flags.DEFINE_string("workdir", None, "Output directory: one seed_<S>/ per seed.")
options.define_flags()
flags.mark_flags_as_required(["config", "phase", "seeds", "workdir"])


@cli.guarded
def main():
  f = flags.FLAGS
  seeds.run(f.config, f.workdir, f.phase, seeds.parse_seeds(f.seeds), options.from_flags())


if __name__ == "__main__":
  cli.run(main, shown=options.FLAGS)
