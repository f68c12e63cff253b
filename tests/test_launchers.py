"""Launchers end to end on the smoke config, resume after a kill, and bad inputs."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import SMOKE_SEARCHES
from tests.launch_process import LAUNCH_S, run_launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = "experiments/ppo_procgen.py"
KILL = os.path.join(ROOT, "tests", "kill_after_checkpoint.py")


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.mark.heavy
def test_search_killed_and_resumed(tmp_path, capsys):
  """The search launcher (a subprocess: the real command line) SIGKILLed as it was about to
  write its second checkpoint (tests/kill_after_checkpoint.py: metrics rows and alphas logged
  past the first one, actors and learner overlapped), then rerun with the same config: it
  resumes from the first checkpoint, cuts the logs back to it and finishes. The rerun and the
  checks after it (a no-op rerun, a re-evaluation, their errors) need no new process: they
  call the library, as the launcher does, on the same workdir. The discretize -> evaluate ->
  report launchers: test_discretize_evaluate_report."""
  from darts_rl import artifacts
  from darts_rl.train import loop
  from experiments.ppo_procgen import get_config

  s = tmp_path / "search"
  overrides = {"total_env_steps": 512, "checkpoint_every_env_steps": 128, "overlap": "on"}
  # The collapse monitor probes every 4 arch updates (2 per iteration), the count carried
  # over the kill through the checkpoint; 2 Lanczos steps are every step's code (a probe of
  # 10, the default, only compiles a larger program).
  arch = {"eigen_every_updates": 4, "eigen_iterations": 2}
  args = (
    ["launch/search.py", f"--config={CFG}:search,smoke", f"--workdir={s}"]
    + [f"--config.loop.{k}={v}" for k, v in overrides.items()]
    + [f"--config.arch.{k}={v}" for k, v in arch.items()]
  )
  killed = subprocess.run(
    [sys.executable, KILL, *args], cwd=ROOT, capture_output=True, text=True, timeout=LAUNCH_S
  )
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
  assert os.listdir(s / "checkpoints") == ["ckpt_128.msgpack"] and not (s / "DONE").exists()
  assert [r["env_steps"] for r in read_metrics(s)] == [64, 128, 192, 256]  # 2 rows past it
  config = get_config("search,smoke")
  config.loop.update(overrides)
  config.arch.update(arch)
  capsys.readouterr()
  loop.run(config, str(s), "search")
  out = capsys.readouterr().out
  assert "resuming" in out and "[search] done" in out
  # What the `auto` options chose (the smoke minibatch, 32 samples, is one call on CPU; its
  # 4 eval envs, fewer than 8, are one call too).
  line = "[search] loop.overlap on, ppo.grad_chunks auto -> 1, loop.eval_batch auto -> 4\n"
  assert line in out
  rows = read_metrics(s)
  steps = [r["env_steps"] for r in rows]
  body = steps[:-1]  # the last row repeats the final step with the final evaluation
  assert body == sorted(set(body)), f"duplicated or unordered metrics: {steps}"
  assert steps[-1] == 512 and body[-1] == 512
  with np.load(s / "alphas.npz") as d:  # the snapshots past the checkpoint were cut back too
    assert list(d["env_steps"]) == [0, 64, 128, 192, 256, 320, 384, 448, 512]
  for name in ("config.json", "metrics.jsonl", "alphas.npz", "eval.json", "DONE"):
    assert (s / name).exists(), name
  assert os.listdir(s / "checkpoints")
  ev = json.loads((s / "eval.json").read_text())
  assert ev["env_steps"] == 512
  assert ev["phase"] == "search" and ev["train_levels"]["episodes"] >= 4
  assert {"train_levels", "validation_levels", "test_levels"} <= set(ev)
  assert any(k.startswith("alpha/normal/n1_in1/") for k in rows[0])
  logged = [r for r in rows if "arch/updates" in r]  # probes at arch updates 0, 4, 8, ...
  assert [r["arch/probes"] for r in logged] == [(r["arch/updates"] + 3) // 4 for r in logged]
  assert logged[-1]["arch/updates"] == 16 and all(r["arch/eigenvalue"] > -1e9 for r in logged)
  # Rerunning a finished phase is a no-op returning its evaluation.
  assert loop.run(config, str(s), "search") == ev
  # A fresh re-evaluation of the finished search (6 episodes, seeds offset by 1) writes
  # eval_6_offset1.json, nothing else.
  before = sorted(os.listdir(s))
  loop.reevaluate(str(s), 6, seed_offset=1)
  ev6 = json.loads((s / "eval_6_offset1.json").read_text())
  assert ev6["episodes"] == 6 and ev6["seed_offset"] == 1 and ev6["env_steps"] == ev["env_steps"]
  for split in ("train_levels", "validation_levels", "test_levels"):
    n = ev6[split]["episodes"]
    assert n >= 6 and ev6[split]["stderr_return"] == pytest.approx(
      ev6[split]["std_return"] / n**0.5
    )
  assert sorted(os.listdir(s)) == sorted(before + ["eval_6_offset1.json"])
  with pytest.raises(artifacts.ArtifactError, match="not a finished run"):
    loop.reevaluate(str(tmp_path), 6)
  assert read_metrics(s) == rows


@SMOKE_SEARCHES
def test_discretize_evaluate_report(tmp_path, smoke_searches):
  """The documented chain after the search through the launchers (subprocesses: the real
  command lines), on the PPO smoke search of tests/conftest.py (copied: discretize writes into
  it); the cell comparison calls the library."""
  from darts_rl.analysis import similarity
  from darts_rl.train import loop
  from experiments.ppo_procgen import get_config

  s, e, b = tmp_path / "search", tmp_path / "searched", tmp_path / "baseline"
  shutil.copytree(os.path.join(smoke_searches.one, "ppo"), s)

  out = run_launcher("discretize", f"--workdir={s}")
  assert out.returncode == 0, out.stderr[-2000:]
  g = json.loads((s / "genotype.json").read_text())
  assert g["format"] == "darts_rl.genotype/1" and len(g["cells"]["normal"]) == 2
  assert (s / "genotype.png").exists()
  # A search compared with itself: every edge agrees, the cells are the same.
  outcome = similarity.SearchOutcome.load(str(s), "a")
  assert "| a vs b | 1.00 | 1.00 | 1.00 |" in similarity.table(
    [outcome, similarity.SearchOutcome.load(str(s), "b")]
  )
  with pytest.raises(ValueError, match="needs at least two workdirs"):
    similarity.table([outcome])

  out = run_launcher(
    "evaluate",
    f"--config={CFG}:evaluate,smoke",
    f"--config.encoder.genotype={s / 'genotype.json'}",
    f"--workdir={e}",
  )
  assert out.returncode == 0, out.stderr[-2000:]
  assert json.loads((e / "eval.json").read_text())["encoder"] == "fixed"
  assert not (e / "alphas.npz").exists()
  loop.run(get_config("baseline,smoke"), str(b), "evaluate")  # the same launcher, in-process

  out = run_launcher(
    "report",
    f"--out={tmp_path / 'report'}",
    f"--search={s}",
    f"--run=searched={e}",
    f"--run=impala={b}",
  )
  assert out.returncode == 0, out.stderr[-2000:]
  md = (tmp_path / "report" / "report.md").read_text()
  assert "searched" in md and "impala" in md
  assert (tmp_path / "report" / "alphas.png").exists()


def test_bad_inputs_one_line_and_nonzero(tmp_path):
  """A launcher turns a user error raised while running into one line and exit status 1 (one
  subprocess); the library raises each kind with its message and writes nothing (in-process).
  Bad command lines (unknown key, type, config file, variant, flag): tests/test_cli.py."""
  from darts_rl import phases
  from darts_rl.train import loop
  from experiments.ppo_procgen import get_config

  game = run_launcher(
    "search", f"--config={CFG}:smoke", "--config.env.games=notagame,", f"--workdir={tmp_path / 'b'}"
  )
  assert game.returncode == 1
  assert game.stderr.strip().splitlines()[-1].startswith("error: unknown Procgen game 'notagame'")

  def evaluate(workdir, **encoder):
    c = get_config("evaluate,smoke")
    c.encoder.update(encoder)
    with pytest.raises(ValueError) as e:
      loop.run(c, str(tmp_path / workdir), "evaluate")
    return str(e.value)

  assert "needs --config.encoder.genotype" in evaluate("c")
  (tmp_path / "bad.json").write_text("{not json")
  assert "bad.json: genotype file is not valid JSON" in evaluate(
    "d", genotype=str(tmp_path / "bad.json")
  )
  classic = {
    "format": "darts_rl.genotype/1",
    "op_set": ["Conv3x3Relu", "SkipConnection", "Zero"],
    "num_nodes": 4,
    "cells": {"normal": [[["Conv3x3Relu", 0]]] * 1 + [[["SkipConnection", 0]]] * 3},
  }
  (tmp_path / "classic.json").write_text(json.dumps(classic))
  assert "encoder.op_set='base' conflicts" in evaluate(
    "e", op_set="base", genotype=str(tmp_path / "classic.json")
  )
  with pytest.raises(ValueError, match="no config.json"):
    phases.discretize(str(tmp_path / "nothing"))
  c = get_config("baseline,smoke")
  c.loop.eval_batch = -1
  with pytest.raises(ValueError, match=r"^loop.eval_batch=-1 must be 0 \(auto\) or"):
    loop.run(c, str(tmp_path / "f"), "evaluate")
  with pytest.raises(ValueError, match=r"^loop.eval_batch=-1"):
    loop.evaluate_random_policy(c, str(tmp_path / "g"))
  for d in "bcdefg":  # the encoder is checked before the workdir is claimed: nothing written
    assert not (tmp_path / d).exists() or not os.listdir(tmp_path / d)


def test_workdir_of_another_phase_is_refused(tmp_path):
  from darts_rl import artifacts
  from darts_rl.train import loop
  from experiments.ppo_procgen import get_config

  w = tmp_path / "w"
  artifacts.claim(str(w), "search", get_config("search,smoke"))
  before = (w / "config.json").read_text()
  out = run_launcher("evaluate", f"--config={CFG}:baseline,smoke", f"--workdir={w}")
  assert out.returncode == 1 and "belongs to phase 'search'" in out.stderr
  other = get_config("search,smoke")
  other.seed = 3
  with pytest.raises(ValueError, match=r"another config \(seed: 0 -> 3\)"):
    loop.run(other, str(w), "search")
  assert (w / "config.json").read_text() == before
