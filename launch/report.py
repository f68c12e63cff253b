"""Report: alpha evolution, discovered cells, learning curves and a summary table.

  python launch/report.py --out=DIR/report --search=SEARCH_DIR \
      --run=searched=EVAL_DIR --run=impala=BASELINE_DIR
Writes OUT/report.md and its PNGs.
"""
from absl import flags

from darts_rl import cli
from darts_rl.analysis import report

flags.DEFINE_string("out", None, "Output directory of the report.")
flags.DEFINE_string("search", None, "A search workdir (alphas, genotype).")
flags.DEFINE_multi_string("run", [], "LABEL=WORKDIR of a trained run to compare (repeatable).")
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
