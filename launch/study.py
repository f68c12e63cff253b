"""Run one of the paper's experiments (a study) end to end: every search, discretization,
retraining, baseline and random cell of its grid, in dependency order, then its report
(docs/studies.md).

  python launch/study.py --study=experiments/studies/trajectory.py:cpu --workdir=W \
      [--parallel=2] [--executor=ray --ray_address=auto]
Each step's state (done, running, failed, partial, waiting), the reports redrawn from the
finished runs, a study's runs and env steps before anything runs:
  python launch/study.py --workdir=W --status
  python launch/study.py --workdir=W --report
  python launch/study.py --study=experiments/studies/ppo_per_game.py:full --plan
Rerun the same command to resume (finished runs are kept, partial ones resume from their
checkpoints, failed ones are retried); a finished study only prints where its report is.
"""

from absl import flags

from darts_rl import cli
from darts_rl.analysis.studies import write_report
from darts_rl.studies import runner
from darts_rl.sweep import options

flags.DEFINE_string("study", None, "The study: FILE[:SIZE], SIZE in smoke | cpu | full.")
flags.DEFINE_string("workdir", None, "Output directory of the study.")
flags.DEFINE_bool("status", False, "Print each step's state and exit (reads W only).")
flags.DEFINE_bool("report", False, "Rewrite W's reports from the finished runs and exit.")
flags.DEFINE_bool("plan", False, "Print the study's runs and env steps per step and exit.")
options.define_flags()


@cli.guarded
def main():
  f = flags.FLAGS
  if f.plan and f.study:
    for name, runs, steps in runner.plan(f.study):
      print(f"{name:32s} {runs:5d} runs {steps:>16,d} env steps")
  elif not f.workdir:
    raise ValueError("--workdir is needed (except with --plan)")
  elif f.status:
    runner.print_status(f.workdir)
  elif f.report:
    for path in runner.rewrite_reports(f.workdir, write_report):
      print(f"[study] wrote {path}")
  elif not f.study:
    raise ValueError("--study=FILE[:SIZE] is needed (or --status / --report on a study's workdir)")
  else:
    runner.run(f.study, f.workdir, write_report, options.from_flags())


if __name__ == "__main__":
  cli.run(main)
