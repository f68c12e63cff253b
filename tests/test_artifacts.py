"""The workdir files' owner: writers and readers round-trip, resume cuts, one error type."""

import json
import os

import ml_collections
import numpy as np
import pytest

from darts_rl import artifacts

K = 3  # ops


def _lines(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_metrics_writer_cuts_rows_past_the_resume_step(tmp_path):
  w = str(tmp_path)
  writer = artifacts.MetricsWriter(w, None, tensorboard=False)
  for steps in (10, 20, 30):
    writer.write(steps, {"train/return": steps / 10, "loss/loss": float("nan")})
  path = os.path.join(w, artifacts.METRICS)
  assert _lines(path)[0] == {"env_steps": 10, "loss/loss": None, "train/return": 1.0}
  with open(path, "a") as f:
    f.write('{"env_steps": 40, "train/ret')  # a kill mid-append
  resumed = artifacts.MetricsWriter(w, 20, tensorboard=False)
  assert [r["env_steps"] for r in resumed.history] == [10, 20]
  assert [r["env_steps"] for r in _lines(path)] == [10, 20]  # rows 30 and the cut 40 dropped
  resumed.write(30, {"train/return": 7.0})
  assert [r["train/return"] for r in _lines(path)] == [1.0, 2.0, 7.0]
  assert [r["env_steps"] for r in artifacts.MetricsWriter(w, None, False).history] == []


def test_read_metrics_merges_rows_of_one_step_and_names_bad_lines(tmp_path):
  path = tmp_path / artifacts.METRICS
  rows = [
    {"env_steps": 100, "wall_s": 10.0, "train/return": 1.0},
    {"env_steps": 0, "train/return": None},
    {"env_steps": 100, "train/return": 2.0, "eval/test_levels/return": 3.0},
  ]
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  # Sorted by env_steps; the later row of step 100 wins key by key, wall_s is kept.
  assert artifacts.read_metrics(str(tmp_path)) == [
    {"env_steps": 0, "train/return": None},
    {"env_steps": 100, "wall_s": 10.0, "train/return": 2.0, "eval/test_levels/return": 3.0},
  ]
  path.write_text('{"env_steps": 1, "train/return": 1.0}\n{"env_steps": 2, "tr')
  assert [r["env_steps"] for r in artifacts.read_metrics(str(tmp_path))] == [1]
  path.write_text('{"env_steps": 1}\n{oops\n{"env_steps": 2}\n')
  with pytest.raises(artifacts.ArtifactError, match=r"metrics.jsonl:2: not valid JSON"):
    artifacts.read_metrics(str(tmp_path))
  path.write_text('{"env_steps": 1.5}\n')
  with pytest.raises(artifacts.ArtifactError, match=r"metrics.jsonl:1: .*integer 'env_steps'"):
    artifacts.read_metrics(str(tmp_path))
  with pytest.raises(artifacts.ArtifactError, match=r"nothing: no metrics.jsonl"):
    artifacts.read_metrics(str(tmp_path / "nothing"))


def test_training_compute(tmp_path):
  w = str(tmp_path)
  rows = [
    {"env_steps": 50, "wall_s": 4.0},
    {"env_steps": 100, "wall_s": 9.0},
    {"env_steps": 100, "eval/test_levels/return": 1.0},
  ]  # the final evaluation's row
  (tmp_path / artifacts.METRICS).write_text("".join(json.dumps(r) + "\n" for r in rows))
  assert artifacts.training_compute(w) == (100, 9.0)
  artifacts.write_eval(w, {"env_steps": 128, "test_levels": {"mean_return": 1.0}})
  assert artifacts.training_compute(w) == (128, 9.0)  # eval.json's count wins


def _alphas(scale):
  return {"normal": tuple(np.full((1 + i, K), scale * (i + 1), np.float32) for i in range(2))}


def test_alphas_round_trip_resume_and_final(tmp_path):
  w = str(tmp_path)
  ops = ("Conv3x3", "Relu", "Zero")
  writer = artifacts.AlphasWriter(w, ops, 2.0, None)
  for steps in (0, 10, 20):
    writer.add(steps, _alphas(steps))
  snaps = artifacts.read_alphas(w)
  assert list(snaps.env_steps) == [0, 10, 20] and snaps.op_names == ops
  assert snaps.temperature == 2.0 and list(snaps.leaves) == ["normal/node0", "normal/node1"]
  assert snaps.leaves["normal/node1"].shape == (3, 2, K)
  assert snaps.leaves["normal/node1"][2, 0, 0] == 40.0  # step 20, node 1: 20 * 2
  assert artifacts.micro_leaf("normal/node1") == ("normal", 1)
  assert artifacts.micro_leaf("width") is None
  final = artifacts.final_alphas(w, _alphas(0))
  np.testing.assert_array_equal(final["normal"][1], _alphas(20)["normal"][1])
  # Resume at step 10: the step-20 snapshot is dropped at the next write.
  resumed = artifacts.AlphasWriter(w, ops, 2.0, 10)
  assert resumed.steps == [0, 10]
  resumed.add(15, _alphas(15))
  assert list(artifacts.read_alphas(w).env_steps) == [0, 10, 15]
  with pytest.raises(artifacts.ArtifactError, match=r"lacks \['reduce/node0'"):
    artifacts.final_alphas(w, {"reduce": (np.zeros((1, K)),)})


def test_bad_alphas_files(tmp_path):
  path = tmp_path / artifacts.ALPHAS
  np.savez(path, env_steps=np.arange(3), **{"normal/node0": np.zeros((2, 1, K))})
  with pytest.raises(artifacts.ArtifactError, match=r"alphas.npz: alphas 'normal/node0' has shape"):
    artifacts.read_alphas(str(tmp_path))
  path.write_bytes(b"not a zip")
  with pytest.raises(artifacts.ArtifactError, match="cannot read alphas history"):
    artifacts.read_alphas(str(tmp_path))
  np.savez(path, env_steps=np.zeros(0, np.int64))
  with pytest.raises(artifacts.ArtifactError, match="holds no alphas snapshot"):
    artifacts.read_alphas(str(tmp_path))


def test_eval_files_and_the_one_with_most_episodes(tmp_path):
  w = str(tmp_path)
  assert artifacts.best_eval(w) == (None, None)
  assert artifacts.read_eval(w, missing_ok=True) is None
  with pytest.raises(artifacts.ArtifactError, match="no eval.json"):
    artifacts.read_eval(w)
  split = lambda m: {"mean_return": m, "std_return": 0.0, "episodes": 4}
  artifacts.write_eval(w, {"env_steps": 8, "test_levels": split(float("nan"))})  # no episode
  assert np.isnan(artifacts.read_eval(w)["test_levels"]["mean_return"])
  written = artifacts.write_eval(w, {"env_steps": 8, "test_levels": split(2.0)}, episodes=64)
  assert written["episodes"] == 64 and os.path.exists(tmp_path / "eval_64.json")
  artifacts.write_eval(w, {"env_steps": 8, "test_levels": split(3.0)}, episodes=256)
  ev, name = artifacts.best_eval(w)
  assert name == "eval_256.json" and ev["test_levels"]["mean_return"] == 3.0
  assert artifacts.read_eval(w, episodes=64) == written
  assert artifacts.fresh_eval(w) == (None, None)
  # A fresh evaluation (other seeds) is what reports show, even with fewer episodes.
  fresh = artifacts.write_eval(
    w, {"env_steps": 8, "test_levels": split(1.5)}, episodes=32, seed_offset=2
  )
  assert fresh["seed_offset"] == 2 and fresh["episodes"] == 32
  assert artifacts.best_eval(w) == (fresh, "eval_32_offset2.json")
  artifacts.write_eval(w, {"env_steps": 8, "test_levels": split(1.0)}, episodes=64, seed_offset=1)
  assert artifacts.fresh_eval(w)[1] == "eval_64_offset1.json"  # the most episodes
  assert artifacts.read_eval(w, episodes=32, seed_offset=2) == fresh
  with pytest.raises(ValueError, match="fresh evaluation needs episodes"):
    artifacts.eval_path(w, seed_offset=1)
  (tmp_path / "eval_256.json").write_text(json.dumps({"test_levels": {"mean_return": "high"}}))
  with pytest.raises(artifacts.ArtifactError, match="eval_256.json: 'test_levels' must be"):
    artifacts.read_eval(w, episodes=256)


def test_claim_phase_config_and_done(tmp_path):
  w = str(tmp_path / "w")
  config = ml_collections.ConfigDict({"seed": 0, "env": {"games": ("coinrun",)}})
  assert artifacts.claim(w, "search", config) is False
  before = (tmp_path / "w" / artifacts.CONFIG).read_text()
  assert json.loads(before) == {"seed": 0, "env": {"games": ["coinrun"]}, "phase": "search"}
  assert artifacts.phase(w) == "search"
  assert artifacts.load_config(w, want_phase="search").env.games == ["coinrun"]
  with pytest.raises(artifacts.ArtifactError, match="belongs to phase 'search', not 'evaluate'"):
    artifacts.load_config(w, want_phase="evaluate")
  with pytest.raises(artifacts.ArtifactError, match="belongs to phase 'search', not 'evaluate'"):
    artifacts.claim(w, "evaluate", config)
  other = ml_collections.ConfigDict({"seed": 1, "env": {"games": ("coinrun",)}})
  with pytest.raises(artifacts.ArtifactError, match=r"another config \(seed: 0 -> 1\)"):
    artifacts.claim(w, "search", other)
  # Logging sinks may change on a resume (e.g. W&B switched on); config.json keeps the first.
  sinks = lambda on: ml_collections.ConfigDict({"seed": 0, "loop": {"wandb": on, "num_logs": 9}})
  assert artifacts.claim(str(tmp_path / "s"), "search", sinks(False)) is False
  assert artifacts.claim(str(tmp_path / "s"), "search", sinks(True)) is False
  assert '"wandb": false' in (tmp_path / "s" / artifacts.CONFIG).read_text()
  with pytest.raises(artifacts.ArtifactError, match=r"is not a finished run \(no DONE\): rerun"):
    artifacts.require_done(w, how="rerun")
  artifacts.mark_done(w, {"env_steps": 5})
  assert artifacts.claim(w, "search", config) is True and artifacts.is_done(w)
  artifacts.require_done(w)
  assert (tmp_path / "w" / artifacts.CONFIG).read_text() == before
  (tmp_path / "x").mkdir()
  (tmp_path / "x" / "stray.txt").write_text("")
  with pytest.raises(artifacts.ArtifactError, match=r"not empty and has no config.json \(stray"):
    artifacts.claim(str(tmp_path / "x"), "search", config)
  with pytest.raises(artifacts.ArtifactError, match="x: no config.json"):
    artifacts.load_config(str(tmp_path / "x"))
  (tmp_path / "x" / artifacts.CONFIG).write_text("[1, 2]")
  with pytest.raises(artifacts.ArtifactError, match="config.json: file is not a JSON object"):
    artifacts.phase(str(tmp_path / "x"))


def test_trials_round_trip_and_bad_rows(tmp_path):
  w = str(tmp_path)
  rows = [
    {"trial": 1, "env_steps": 64, "test_levels": {"mean_return": None}},
    {"trial": 0, "env_steps": 64, "train_levels": {"mean_return": 2.5}},
  ]
  artifacts.write_trials(w, rows)
  assert artifacts.read_trials(w) == rows[::-1]
  for i in (0, 2):
    os.makedirs(artifacts.trial_dir(w, i))
    artifacts.mark_done(artifacts.trial_dir(w, i))
  os.makedirs(artifacts.trial_dir(w, 1))  # unfinished
  assert artifacts.finished_trials(w) == [0, 2]
  assert artifacts.trial_dir(w, 2).endswith(os.path.join("trials", "trial_002"))
  artifacts.write_trials(w, rows + [{"trial": 2, "env_steps": 64}])
  with pytest.raises(artifacts.ArtifactError, match=r"trials.jsonl:3: a trial row needs"):
    artifacts.read_trials(w)
  artifacts.write_trials(w, [])
  with pytest.raises(artifacts.ArtifactError, match="no finished trials"):
    artifacts.read_trials(w)


def test_seeds_layout(tmp_path):
  w = str(tmp_path / "seeds")
  assert artifacts.seeds_run_phase(w) is None  # no config.json
  artifacts.claim(w, artifacts.seeds_phase("evaluate"), ml_collections.ConfigDict({"seed": 0}))
  assert artifacts.seeds_run_phase(w) == "evaluate"
  for s in (3, 10):
    os.makedirs(artifacts.seed_dir(w, s))
  artifacts.mark_done(artifacts.seed_dir(w, 10))
  assert artifacts.seed_dir(w, 3) == os.path.join(w, "seed_3")
  assert artifacts.finished_seeds(w) == [10]
  rows = [{"seed": 10, "env_steps": 8, "validation_levels": {"mean_return": 1.0}}]
  artifacts.write_seeds(w, rows)
  assert artifacts.read_seeds(w) == rows
  assert artifacts.seeds_run_phase(str(tmp_path)) is None  # not a seeds workdir
  with pytest.raises(artifacts.ArtifactError, match="belongs to phase 'seeds:evaluate'"):
    artifacts.load_config(w, want_phase=artifacts.seeds_phase("search"))


def test_atomic_writes_leave_no_temp_files(tmp_path):
  path = str(tmp_path / "a.json")
  artifacts.atomic_write_json(path, {"x": np.arange(2), "t": (1, 2)})
  assert artifacts.read_json(path) == {"x": [0, 1], "t": [1, 2]}
  with pytest.raises(TypeError):
    artifacts.atomic_write_json(path, {"x": object()})
  assert os.listdir(tmp_path) == ["a.json"]
  assert artifacts.read_json(path) == {"x": [0, 1], "t": [1, 2]}  # the old file is intact
  (tmp_path / "a.json").write_text("{oops")
  with pytest.raises(artifacts.ArtifactError, match="a.json: file is not valid JSON"):
    artifacts.read_json(path)
  with pytest.raises(artifacts.ArtifactError, match="cannot read file .*missing.json"):
    artifacts.read_json(str(tmp_path / "missing.json"))


def test_an_old_config_json_is_read_as_todays(tmp_path):
  """One upgrade for config.json files of earlier releases: each added field reads as what a
  config without it meant, in the groups the config has; claim compares upgraded configs."""
  old = {
    "phase": "search",
    "seed": 0,
    "encoder": {"kind": "supernet"},
    "ppo": {"num_steps": 8},
    "loop": {"total_env_steps": 64},
  }
  (tmp_path / "config.json").write_text(json.dumps(old))
  d = artifacts.read_config(str(tmp_path))
  assert d["encoder"] == {"kind": "supernet", "compute_dtype": "float32", "fused_edges": True}
  assert d["ppo"] == {"num_steps": 8, "grad_chunks": 1}
  assert d["loop"]["overlap"] == "off" and d["loop"]["num_logs"] == 100
  assert "rainbow" not in d and "arch" not in d and "env" not in d
  # An env config of before env.num_threads: Procgen's default, 0 (readers read the field).
  old_env = {"kind": "procgen", "games": ["coinrun"]}
  assert artifacts.upgrade_config({"env": old_env})["env"] == dict(old_env, num_threads=0)
  assert json.loads((tmp_path / "config.json").read_text()) == old  # the file is not rewritten
  assert artifacts.load_config(str(tmp_path), want_phase="search").loop.eval_batch == 0
  config = ml_collections.ConfigDict({k: v for k, v in d.items() if k != "phase"})
  assert not artifacts.claim(str(tmp_path), "search", config)  # the same run: resumable
