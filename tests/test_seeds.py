"""launch/seeds.py's runner: one phase for N seeds, resume / extend, fresh evaluations."""

import os

import pytest

from darts_rl import artifacts, seeds
from darts_rl.sweep import LocalPool
from experiments.ppo_procgen import get_config
from tests import fake_training
from tests.launch_process import run_launcher

FAKE = "tests.fake_training"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parse_seeds():
  assert seeds.parse_seeds("0,1,2") == [0, 1, 2]
  assert seeds.parse_seeds("3-5, 9") == [3, 4, 5, 9]
  for bad in ("", "a", "1,1", "-1", "2-x"):
    with pytest.raises(ValueError, match="--seeds"):
      seeds.parse_seeds(bad)


def test_seeds_run_resume_and_extend(tmp_path, capsys):
  w = str(tmp_path / "impala")
  config = get_config("baseline,smoke")
  rows = seeds.run(config, w, "evaluate", [0, 2], LocalPool(), training=FAKE)
  assert [r["seed"] for r in rows] == [0, 2] and [r["workdir"] for r in rows] == [
    "seed_0",
    "seed_2",
  ]
  for r in rows:  # each seed dir is a normal evaluate workdir with config.seed set
    d = artifacts.seed_dir(w, r["seed"])
    assert artifacts.load_config(d, want_phase="evaluate").seed == r["seed"]
    assert r["fresh"]["file"] == "eval_4_offset1.json"
    assert r["fresh"]["test_levels"]["mean_return"] == fake_training.TABLE[r["seed"]][3]
  assert artifacts.read_seeds(w) == rows and artifacts.seeds_run_phase(w) == "evaluate"
  capsys.readouterr()
  # Extend: only seed 1 runs; a seed whose job died between its run and its fresh
  # evaluation is finished on the rerun.
  os.remove(artifacts.eval_path(artifacts.seed_dir(w, 2), 4, 1))
  rows = seeds.run(config, w, "evaluate", [0, 1, 2], LocalPool(), training=FAKE)
  assert [r["seed"] for r in rows] == [0, 1, 2] and all("fresh" in r for r in rows)
  out = capsys.readouterr().out
  assert "1 finished, 2 to run" in out and "[sweep] seed 0" not in out
  with pytest.raises(
    artifacts.ArtifactError, match="belongs to phase 'seeds:evaluate', not 'seeds:search'"
  ):
    seeds.run(get_config("search,smoke"), w, "search", [0], LocalPool(), training=FAKE)


def test_genotype_per_seed(tmp_path):
  config = get_config("evaluate,smoke")
  config.encoder.genotype = str(tmp_path / "search" / "seed_{seed}" / "genotype.json")
  assert seeds.seed_config(config, 3).encoder.genotype.endswith("seed_3/genotype.json")
  with pytest.raises(ValueError, match=r"no file for seed\(s\) 0, 1 \(discretize"):
    seeds.run(config, str(tmp_path / "w"), "evaluate", [0, 1], training=FAKE)
  with pytest.raises(ValueError, match="unknown phase 'discretize'"):
    seeds.run(config, str(tmp_path / "w"), "discretize", [0], training=FAKE)
  assert not (tmp_path / "w").exists()


def test_seeds_launcher_bad_input():
  out = run_launcher(
    "seeds",
    "--phase=evaluate",
    "--seeds=1,1",
    "--config=experiments/ppo_procgen.py:baseline,smoke",
    "--workdir=/tmp/x",
  )
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1] == (
    "error: --seeds needs distinct integers >= 0, got '1,1'"
  )
