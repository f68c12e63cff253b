"""Search efficiency: the selected architecture's return vs compute, random search against
RL-DARTS, per seed and aggregated across seeds.

  python launch/compare.py --out=DIR --random=RS_SEED0,RS_SEED1 \
      --darts=SEARCH0:EVAL0,SEARCH1:EVAL1
  python launch/compare.py --out=DIR --random=RS_SEED0,RS_SEED1 \
      --darts=W/search_seeds:W/searched_seeds
--random: random-search workdirs (launch/random_search.py), one per seed: each reports its
trial selected on validation levels, by that trial's fresh evaluation. --darts: a search
workdir and the evaluate workdir of its discretized cell, one pair per seed, or a pair of
seeds workdirs (launch/seeds.py), paired seed by seed.
Writes OUT/report.md, OUT/search_efficiency.png and OUT/performance_profiles.png.
"""

from absl import flags

from darts_rl import cli
from darts_rl.analysis import compare

flags.DEFINE_string("out", None, "Output directory of the comparison.")
flags.DEFINE_list("random", [], "Random-search workdirs, one per seed.")
flags.DEFINE_list(
  "darts",
  [],
  "SEARCH_DIR:EVAL_DIR pairs of RL-DARTS runs, one per seed (or one pair of seeds workdirs).",
)
flags.DEFINE_string("title", "Random search vs RL-DARTS", "Report title.")
flags.mark_flags_as_required(["out"])


@cli.guarded
def main():
  f = flags.FLAGS
  pairs = []
  for item in f.darts:
    parts = item.split(":")
    if len(parts) != 2 or not all(parts):
      raise ValueError(f"--darts expects SEARCH_DIR:EVAL_DIR pairs, got '{item}'")
    pairs.append(tuple(parts))
  path = compare.write_comparison(f.out, f.random, pairs, title=f.title)
  print(f"[compare] wrote {path}", flush=True)


if __name__ == "__main__":
  cli.run(main)
