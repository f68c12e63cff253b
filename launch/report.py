"""Report: alpha evolution, discovered cells, learning curves, summary and per-game tables,
and aggregates across seeds.

  python launch/report.py --out=DIR/report --search=SEARCH_DIR \
      --run=searched=EVAL_DIR --run=impala=BASELINE_DIR
  python launch/report.py --out=W/report --run=searched=W/searched_seeds --run=impala=W/impala_seeds
  python launch/report.py --out=R --run=searched=W/s0,W/s1,W/s2 --run=impala=W/b0,W/b1,W/b2
A --run that is a seeds workdir (launch/seeds.py), or several workdirs separated by commas
(seeds run one by one; each one's seed is its config.json's), stands for its seeds and adds
the 'Across seeds' section: per-seed scores, IQM and mean with 95-percent
stratified-bootstrap intervals, probability of improvement, performance profiles (rliable).
Writes OUT/report.md and its PNGs.
"""

from absl import flags

from darts_rl import cli
from darts_rl.analysis import report

flags.DEFINE_string("out", None, "Output directory of the report.")
flags.DEFINE_string("search", None, "A search workdir (alphas, genotype).")
flags.DEFINE_multi_string(
  "run",
  [],
  "LABEL=WORKDIR of a trained run, a seeds workdir, or WORKDIR,WORKDIR,... of one "
  "method's seeds, to compare (repeatable).",
)
flags.DEFINE_string("title", "darts-rl report", "Report title.")
flags.mark_flags_as_required(["out"])


@cli.guarded
def main():
  f = flags.FLAGS
  runs = {}
  for item in f.run:
    label, sep, path = item.partition("=")
    if not sep or not label or not path:
      raise ValueError(f"--run expects LABEL=WORKDIR, got '{item}'")
    runs[label] = path
  if f.search:
    runs.setdefault("search", f.search)
  path = report.write_report(f.out, runs, search_dir=f.search, title=f.title)
  print(f"[report] wrote {path}", flush=True)


if __name__ == "__main__":
  cli.run(main)
