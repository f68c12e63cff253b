"""PPO on Procgen with the macro search space (per-stage downsampling op, block ops, width).

The same phases and sizes as experiments/ppo_procgen.py (`PHASE[,SIZE]`), with
encoder.space=macro; `baseline` is IMPALA-CNN, itself a point of the macro space.

  python launch/search.py --config=experiments/ppo_procgen_macro.py:search --workdir=/tmp/ms
  python launch/discretize.py --workdir=/tmp/ms
  python launch/evaluate.py --config=experiments/ppo_procgen_macro.py:evaluate \
      --config.encoder.genotype=/tmp/ms/genotype.json --workdir=/tmp/me
Add --config.encoder.macro_search_width=True to search stage widths too.
"""

from experiments import ppo_procgen


def get_config(arg=None):
  c = ppo_procgen.get_config(arg)
  c.encoder.space = "macro"
  return c
