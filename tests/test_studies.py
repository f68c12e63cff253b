"""Studies (launch/study.py): the shipped grids, the driver's order, failures, status, resume
(with a stand-in for training), and every shipped study at its smoke size for real."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from darts_rl import artifacts
from darts_rl.analysis.studies import write_report
from darts_rl.studies import grid, runner
from darts_rl.sweep import LocalPool
from tests.conftest import ROOT
from tests.launch_process import run_launcher

FAKE = "tests.fake_training"
STUDIES = sorted(
  f for f in glob.glob(os.path.join(ROOT, "experiments", "studies", "*.py")) if "__init__" not in f
)
WAIT_S = 300  # a ceiling on waits for a subprocess's line, never a speed check


def rel(path):
  return os.path.relpath(path, ROOT)


@pytest.mark.parametrize("size", grid.SIZES)
@pytest.mark.parametrize("path", STUDIES, ids=os.path.basename)
def test_every_shipped_study_expands_with_valid_configs(path, size, tmp_path):
  study, _ = runner.load_study(f"{rel(path)}:{size}")
  assert study.size == size
  nodes = grid.expand(study, str(tmp_path))
  names = [n.name for n in nodes]
  assert len(set(names)) == len(names)
  for i, n in enumerate(nodes):  # every dependency comes first
    assert all(names.index(d) < i for d in n.deps), n.name
  if size == "smoke":
    assert len(study.seeds) == 1
  for n in nodes:  # each job's config loads and names the study's env
    if n.config is not None:
      c = n.config()
      assert (
        c.env.get("task") in dict(study.envs).values()
        or tuple(c.env.games) in dict(study.envs).values()
      )
  assert not os.listdir(tmp_path)  # expanding writes nothing


def test_the_paper_grids_at_full_size(tmp_path):
  load = lambda name: runner.load_study(f"experiments/studies/{name}.py:full")[0]  # noqa: E731
  per_game = grid.expand(load("ppo_per_game"), str(tmp_path))
  # 16 games x 3 seeds x (search, cell, retrain, baseline)
  assert len(per_game) == 16 * 3 * 4
  assert "darts/coinrun/retrain/seed_2" in {n.name for n in per_game}
  macro, _ = runner.load_study("experiments/studies/ppo_per_game.py:full,macro")
  assert macro.methods[0].name == "darts_macro"
  assert macro.methods[0].steps[0].config.startswith("experiments/ppo_procgen_macro.py")
  rainbow = load("rainbow_multi_game")
  assert rainbow.envs[0][0] == "16games" and len(rainbow.envs[0][1]) == 16
  sac = load("sac_tasks")
  assert len(sac.envs) == 6 and sac.env_field == "env.task"
  eff = grid.expand(load("efficiency"), str(tmp_path))
  assert sum(n.name.startswith("random/starpilot/random/seed_0/trial_") for n in eff) == 24
  retrain = next(n for n in eff if n.name == "darts/starpilot/retrain_at_050/seed_1")
  assert retrain.deps == ("darts/starpilot/cells/seed_1_at_050",)
  transfer = grid.expand(load("transfer"), str(tmp_path))
  moved = next(n for n in transfer if n.name == "from_starpilot/bigfish/retrain/seed_0")
  assert moved.deps == ("darts/starpilot/cells/seed_0_at_100",)
  assert moved.config().env.games == ("bigfish",)
  assert "darts/starpilot/cells/seed_0_at_100.json" in moved.config().encoder.genotype


def test_bad_studies_are_one_line_errors(tmp_path):
  with pytest.raises(ValueError, match="bad study variant 'huge'"):
    runner.load_study("experiments/studies/trajectory.py:huge")
  with pytest.raises(ValueError, match="study file experiments/studies/nope.py not found"):
    runner.load_study("experiments/studies/nope.py:smoke")
  bad = tmp_path / "bad.py"
  bad.write_text(
    STUDY.replace("source=None", 'source=("darts", "bigfish")').replace("RETRAIN_AT", "(1.0,)")
  )
  study, _ = runner.load_study(f"{bad}:smoke")
  with pytest.raises(ValueError, match="reads env 'bigfish', not an env of the study"):
    grid.expand(study, str(tmp_path / "w"))
  proc = run_launcher("study", f"--workdir={tmp_path / 'w'}")
  assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
    "error: --study=FILE[:SIZE] is needed (or --status / --report on a study's workdir)"
  ]
  proc = run_launcher("study", f"--workdir={tmp_path / 'w'}", "--status")
  assert proc.returncode == 1 and "holds no study" in proc.stderr


# A small study for the driver's tests (with the stand-in training: files, no learning).
STUDY = """
from darts_rl import studies

def get_study(arg=None):
  size, _ = studies.parse_variant(arg)
  cfg = "experiments/ppo_procgen.py"
  return studies.Study(
    name="tiny", size=size, description="a tiny study", env_field="env.games",
    envs=studies.games("starpilot"), seeds=(0, 1),
    methods=(
      studies.Method("darts", (
        studies.Search(cfg + ":search,{size}"),
        studies.Retrain(cfg + ":evaluate,{size}", at=RETRAIN_AT, source=None),
      )),
      studies.Method("impala", (studies.Baseline(cfg + ":baseline,{size}"),)),
      studies.Method("random", (
        studies.RandomCells(cfg + ":search,{size}", cfg + ":evaluate,{size}", 2),
      )),
    ),
    reports=("per_game", "trajectory", "efficiency"),
  )
"""


def tiny(tmp_path):
  path = tmp_path / "tiny.py"
  path.write_text(STUDY.replace("RETRAIN_AT", "(0.5, 1.0)"))
  return f"{path}:smoke"


def test_driver_order_report_and_a_rerun_that_does_nothing(tmp_path, capsys):
  spec, w = tiny(tmp_path), str(tmp_path / "w")
  report = runner.run(spec, w, write_report, LocalPool(), training=FAKE)
  out = capsys.readouterr().out
  done = [
    line.split(": ", 1)[1].split(" in ")[0] for line in out.splitlines() if "] done (" in line
  ]
  # Per seed: search, 2 cells, 2 retrains, baseline, 2 trials, and the fresh evaluation of
  # each trial that was the best so far (trial 0 always; fake trial 1 is better on validation).
  assert len(done) == 2 * (1 + 2 + 2 + 1 + 2 + 2) and len(set(done)) == len(done)
  for s in (0, 1):  # search -> cell -> retrain, per seed
    search = done.index(f"darts/starpilot/search/seed_{s}")
    cell = done.index(f"darts/starpilot/cells/seed_{s}_at_050")
    assert search < cell < done.index(f"darts/starpilot/retrain_at_050/seed_{s}")
    assert done.index(f"random/starpilot/random/seed_{s}/fresh_001") > done.index(
      f"random/starpilot/random/seed_{s}/trial_001"
    )
  assert report == artifacts.report_path(w, "tiny")
  text = open(report).read()
  for section in ("## Per game", "## Across seeds", "## Trajectory", "## Efficiency"):
    assert section in text
  for fig in ("trajectory.png", "efficiency.png", "performance_profiles.png"):
    assert os.path.isfile(os.path.join(os.path.dirname(report), fig))
  # Every step writes a normal multi-seed workdir the other tools read.
  assert [r["seed"] for r in artifacts.read_seeds(f"{w}/darts/starpilot/retrain")] == [0, 1]
  assert len(artifacts.read_trials(f"{w}/random/starpilot/random/seed_1")) == 2
  cell = json.load(open(f"{w}/darts/starpilot/cells/seed_0_at_050.json"))
  assert cell["searched_on"] == {
    "kind": "procgen",
    "games": ["starpilot"],
    "distribution_mode": "easy",
  }
  # A finished study: the rerun runs nothing and says where the report is.
  assert runner.run(spec, w, write_report, LocalPool(), training=FAKE) == report
  assert capsys.readouterr().out.strip().splitlines() == [
    f"[study] tiny (smoke) is finished; its report: {report}"
  ]
  with pytest.raises(ValueError, match="holds study 'tiny' as .*:smoke, not .*:cpu"):
    runner.run(spec.replace(":smoke", ":cpu"), w, write_report, LocalPool(), training=FAKE)


def test_a_failed_job_stops_only_what_depends_on_it(tmp_path, monkeypatch, capsys):
  spec, w = tiny(tmp_path), str(tmp_path / "w")
  monkeypatch.setenv("FAKE_TRAINING_FAIL", "seed_1")  # every run of seed 1 fails
  with pytest.raises(
    runner.StudyFailed, match=r"^\d job\(s\) failed: .*; 4 step\(s\) wait on them"
  ):
    runner.run(spec, w, write_report, LocalPool(), training=FAKE)
  assert "told to fail" in capsys.readouterr().out
  states = dict((n, s) for n, s, _ in runner.node_states(w, runner.load_study(spec)[0]))
  assert states["darts/starpilot/search/seed_1"] == "failed"
  assert states["darts/starpilot/cells/seed_1_at_050"] == "waiting"
  assert states["darts/starpilot/retrain/seed_0"] == "done"
  assert states["impala/starpilot/baseline/seed_0"] == "done"
  runner.print_status(w)
  status = capsys.readouterr().out
  assert "study tiny (" in status and "failed   darts/starpilot/search/seed_1" in status
  assert (
    "waiting  darts/starpilot/retrain/seed_1  (on darts/starpilot/cells/seed_1_at_100)" in status
  )
  monkeypatch.delenv("FAKE_TRAINING_FAIL")
  runner.run(
    spec, w, write_report, LocalPool(), training=FAKE
  )  # retries the failed ones, keeps the rest
  out = capsys.readouterr().out
  assert "done (" in out and "impala/starpilot/baseline/seed_0 in" not in out
  assert all(s == "done" for _, s, _ in runner.node_states(w, runner.load_study(spec)[0]))


DRIVER = """
import sys
from darts_rl.analysis.studies import write_report
from darts_rl.studies import runner
from darts_rl.sweep import LocalPool
runner.run(sys.argv[1], sys.argv[2], write_report, LocalPool(), training="tests.fake_training")
"""


def _indexes(w):
  """Every seeds.jsonl and trials.jsonl of a study workdir, by relative path."""
  out = {}
  for name in ("seeds.jsonl", "trials.jsonl"):
    for p in glob.glob(os.path.join(w, "**", name), recursive=True):
      out[os.path.relpath(p, w)] = [json.loads(line) for line in open(p)]
  return out


def test_a_killed_study_resumes_to_the_same_results(tmp_path):
  spec = tiny(tmp_path)
  script = tmp_path / "driver.py"
  script.write_text(DRIVER)
  # The driver's third run claims its workdir, says so and waits there: the kill lands inside
  # a half-done step, after the two searches and their first cells.
  env = dict(os.environ, FAKE_TRAINING_HOLD_AT="3")
  killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
  proc = subprocess.Popen(
    [sys.executable, str(script), spec, killed],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    deadline = time.monotonic() + WAIT_S
    seen = 0
    for line in proc.stdout:  # kill it once it holds
      seen += "] done (" in line
      if line.startswith("[fake] holding") or time.monotonic() > deadline:
        break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT_S)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert seen >= 3
  assert not os.path.isfile(artifacts.report_path(killed, "tiny"))
  states = [s for _, s, _ in runner.node_states(killed, runner.load_study(spec)[0])]
  assert states.count("partial") == 1 and states.count("done") == seen
  # The killed driver resumed by a fresh one; the reference study run whole, here.
  subprocess.run([sys.executable, str(script), spec, killed], cwd=ROOT, check=True, timeout=WAIT_S)
  runner.run(spec, whole, write_report, LocalPool(), training=FAKE)
  assert _indexes(killed) == _indexes(whole) and _indexes(whole)
  text = lambda w: open(artifacts.report_path(w, "tiny")).read()  # noqa: E731
  assert text(killed) == text(whole)


def test_transfer_note(tmp_path):
  from experiments.ppo_procgen import get_config

  c = get_config("search,smoke")
  path = str(tmp_path / "g.json")
  from darts_rl.networks.space_config import make_space

  space = make_space(c.encoder)
  genotype = space.discretize(space.init_alphas(), 2, 1.0)
  artifacts.write_genotype(path, genotype, env=c.env)
  assert artifacts.transfer_note(path, c.env) is None
  c.env.games = ("bigfish",)
  assert artifacts.transfer_note(path, c.env) == "searched on starpilot, retrained on bigfish"
  artifacts.write_genotype(path, genotype)  # a file that records no search: no note
  assert artifacts.transfer_note(path, c.env) is None


def _run_studies(w, names, capsys):
  outs = {}
  for name in names:
    report = runner.run(f"experiments/studies/{name}.py:smoke", w, write_report, LocalPool())
    outs[name] = capsys.readouterr().out
    assert os.path.isfile(report), name
  return outs


@pytest.mark.heavy
@pytest.mark.xdist_group("studies_ppo")
def test_the_ppo_studies_at_smoke_size_share_their_runs(tmp_path, capsys):
  """trajectory, efficiency, ppo_per_game and transfer in one workdir: each study reuses the
  steps the others already ran (same name, same config)."""
  w = str(tmp_path / "w")
  outs = _run_studies(w, ("trajectory", "efficiency", "ppo_per_game", "transfer"), capsys)
  assert "0 of 5 steps done" in outs["trajectory"]
  assert "5 of 7 steps done" in outs["efficiency"]  # the trajectory's search, cells, retrains
  assert "3 of 4 steps done" in outs["ppo_per_game"]  # all but the baseline
  assert "4 of 5 steps done" in outs["transfer"]  # all but the transfer to bigfish
  # The transfer study retrains starpilot's cell on bigfish and says so.
  assert (
    "[evaluate] transfer: the cell was searched on starpilot, retrained on bigfish"
    in (outs["transfer"])
  )
  reports = {n: open(artifacts.report_path(w, n)).read() for n in outs}
  assert "| starpilot | 0 | 50% |" in reports["trajectory"]
  assert "## Efficiency" in reports["efficiency"] and "random pick" in reports["efficiency"]
  assert "| starpilot | starpilot | impala | 1 |" in reports["ppo_per_game"]
  assert "| bigfish | bigfish | from_starpilot | 1 |" in reports["transfer"]
  assert "% of impala" in reports["transfer"]


@pytest.mark.heavy
@pytest.mark.xdist_group("studies_rainbow")
def test_the_rainbow_multi_game_study_at_smoke_size(tmp_path, capsys):
  w = str(tmp_path / "w")
  _run_studies(w, ("rainbow_multi_game",), capsys)
  rainbow = open(artifacts.report_path(w, "rainbow_multi_game")).read()
  for game in ("bigfish", "starpilot"):  # per-game rows of the one multi-game env
    assert f"| 2games | {game} | darts | 1 |" in rainbow
    assert f"| 2games | {game} | impala | 1 |" in rainbow


@pytest.mark.heavy
@pytest.mark.xdist_group("studies_sac")
def test_the_sac_study_at_smoke_size(tmp_path, capsys):
  w = str(tmp_path / "w")
  _run_studies(w, ("sac_tasks",), capsys)
  sac = open(artifacts.report_path(w, "sac_tasks")).read()
  assert "| cartpole-swingup | cartpole-swingup | darts | 1 |" in sac
  assert "| cartpole-swingup | cartpole-swingup | cnn4 | 1 |" in sac
