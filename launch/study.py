"""Run one of the paper's experiments (a study) end to end: every search, discretization,
retraining, baseline and random cell of its grid, in dependency order, then its report.

  python launch/study.py --study=experiments/studies/trajectory.py:cpu --workdir=W
      [--parallel=2] [--executor=ray --ray_address=auto]
  python launch/study.py --workdir=W --status     # done / running / failed / partial / waiting
  python launch/study.py --workdir=W --report     # redraw the reports from the finished runs
Rerun the same command to resume (finished runs are kept, partial ones resume from their
checkpoints, failed ones are retried); a finished study only prints where its report is.
"""

from absl import flags

from darts_rl import cli
from darts_rl.studies import runner
from darts_rl.sweep import options

flags.DEFINE_string("study", None, "The study: FILE[:SIZE], SIZE in smoke | cpu | full.")
flags.DEFINE_string("workdir", None, "Output directory of the study.")
flags.DEFINE_bool("status", False, "Print each step's state and exit (reads W only).")
flags.DEFINE_bool("report", False, "Rewrite W/report from the finished runs and exit.")
options.define_flags()
flags.mark_flags_as_required(["workdir"])


@cli.guarded
def main():
  f = flags.FLAGS
  if f.status:
    runner.print_status(f.workdir)
  elif f.report:
    for path in runner.rewrite_reports(f.workdir):
      print(f"[study] wrote {path}")
  elif not f.study:
    raise ValueError("--study=FILE[:SIZE] is needed (or --status / --report on a study's workdir)")
  else:
    runner.run(f.study, f.workdir, options.from_flags())


if __name__ == "__main__":
  cli.run(main)
