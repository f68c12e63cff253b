"""Weights & Biases logging: off by default; when on, every metrics row reaches the W&B run.

Run in wandb's offline mode: nothing leaves the machine, the run's files stay in WORKDIR/wandb.
"""

import glob
import math
import os

import pytest

from darts_rl import artifacts, cli

EXPERIMENTS = [
  "experiments/ppo_procgen.py",
  "experiments/rainbow_procgen.py",
  "experiments/sac_dmc.py",
  "experiments/ppo_procgen_macro.py",
]


@pytest.fixture
def offline(tmp_path, monkeypatch):
  monkeypatch.setenv("WANDB_MODE", "offline")
  monkeypatch.setenv("WANDB_SILENT", "true")
  # wandb's own settings and cache, kept out of the home directory.
  monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
  monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
  return tmp_path / "workdir"


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_off_by_default(path):
  config = cli.load(f"{path}:search,smoke")
  assert config.loop.wandb is False
  assert artifacts.wandb_settings(config, "/tmp/w", "search") is None


def test_settings_name_the_run_and_carry_the_config():
  config = cli.load("experiments/ppo_procgen.py:search,smoke")
  config.loop.wandb = True
  config.loop.wandb_entity = "team"
  settings = artifacts.wandb_settings(config, "/runs/ppo_search/", "search")
  assert settings["project"] == "darts-rl" and settings["entity"] == "team"
  assert settings["name"] == "search:ppo_search"
  assert settings["config"]["phase"] == "search"
  assert settings["config"]["ppo"]["gamma"] == config.ppo.gamma


def test_rows_reach_an_offline_run(offline):
  pytest.importorskip("wandb")
  config = cli.load("experiments/ppo_procgen.py:search,smoke")
  config.loop.wandb = True
  workdir = str(offline)
  os.makedirs(workdir)
  writer = artifacts.MetricsWriter(
    workdir, None, tensorboard=False, wandb=artifacts.wandb_settings(config, workdir, "search")
  )
  writer.write(64, {"train/return": 1.5, "loss/total": math.nan})
  writer.write(128, {"train/return": 2.5, "loss/total": 0.25})
  run = writer.wandb.run
  assert run.settings.mode == "offline"
  assert run.name == "search:workdir"
  assert run.config["agent"] == "ppo" and run.config["phase"] == "search"
  summary = dict(run.summary)
  assert summary["env_steps"] == 128
  assert summary["train/return"] == 2.5 and summary["loss/total"] == 0.25
  writer.close()
  assert glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb"))
  # metrics.jsonl is written as without W&B.
  rows = artifacts.read_metrics(workdir)
  assert [r["env_steps"] for r in rows] == [64, 128] and rows[0]["loss/total"] is None
