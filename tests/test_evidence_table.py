"""experiments/results/: every folder's runs named with their commands, tables generated from
the runs' files and current (results READMEs and README.md), no absolute paths."""

import glob
import importlib.util
import json
import os
import re

import pytest

from tests.test_cli import launcher_flags, parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABSOLUTE = re.compile(r"(?<![\w.])/(home|root|tmp|work|Users|mnt|opt)/")


@pytest.fixture(scope="module")
def et():
  spec = importlib.util.spec_from_file_location(
    "evidence_table", os.path.join(ROOT, "scripts", "evidence_table.py")
  )
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
  monkeypatch.chdir(ROOT)


def test_generated_tables_are_current(et):
  assert et.stale() == [], "stale evidence tables: run python scripts/evidence_table.py"


def test_readme_table_comes_from_the_script(et):
  with open(os.path.join(ROOT, "README.md")) as f:
    if "<!-- evidence_table: readme -->" not in f.read():
      pytest.skip("README.md has no <!-- evidence_table: readme --> block yet")
  assert (
    et.render(os.path.join(ROOT, "README.md"), {"readme": et.readme_table()})
    == open(os.path.join(ROOT, "README.md")).read()
  )


def test_every_run_with_an_evaluation_is_named(et):
  """A folder's runs.json lists every directory of it that holds an evaluation; every folder
  with evaluations has a runs.json, and every results README has both generated blocks."""
  listed = set(et.folders())
  for folder in sorted(glob.glob(f"{et.RESULTS}/*/", root_dir=ROOT)):
    folder = folder.rstrip("/")
    runs = et.run_dirs(folder)
    if not runs:
      continue
    records = glob.glob(os.path.join(ROOT, folder, "studies", "*.json"))
    if records:  # a study's workdir: its records name its runs, its reports are its tables
      nodes = {n["name"] for r in records for n in json.load(open(r))["nodes"]}
      unnamed = {r for r in runs if r.replace("/trials/", "/") not in nodes}
      assert not unnamed, f"{folder}: runs no study record names: {unnamed}"
      for r in records:
        name = os.path.basename(r)[: -len(".json")]
        assert os.path.isfile(os.path.join(ROOT, folder, "reports", name, "report.md")), name
      continue
    assert folder in listed, f"{folder} has runs but no {et.MANIFEST}"
    manifest, _, _ = et.load(folder)
    names = {os.path.normpath(e["name"]) for item in manifest["runs"] for e in et.expand(item)}
    assert set(runs) <= names, f"{folder}: runs not in {et.MANIFEST}: {set(runs) - names}"
    text = open(os.path.join(ROOT, folder, et.README)).read()
    for kind in ("runs", "commands"):
      assert f"<!-- evidence_table: {kind} -->" in text, f"{folder}/README.md: no {kind} block"


def test_named_commands_parse(et, monkeypatch, capsys):
  """Each run's command is a config variant plus overrides that the launcher accepts."""
  failures = []
  for folder in et.folders():
    manifest, runs, _ = et.load(folder)
    for entry in manifest["runs"]:
      if "launch" not in entry:
        assert os.path.isdir(os.path.join(ROOT, folder, entry["name"])), entry["name"]
        continue
      script = f"launch/{entry['launch']}.py"
      argv = [script, *et.command_args(entry, "/tmp/unused")]
      code, _ = parse(argv, launcher_flags(script), monkeypatch)
      if code is not None:
        failures.append(f"{folder}: {entry['name']}: {capsys.readouterr().err.strip()}")
      genotype = entry.get("overrides", {}).get("encoder.genotype")
      if genotype:
        assert os.path.isfile(os.path.join(ROOT, genotype)), genotype
  assert not failures, "\n".join(failures)


def test_no_absolute_paths_in_results():
  bad = []
  for path in glob.glob("experiments/results/**/*", root_dir=ROOT, recursive=True):
    if path.endswith((".md", ".json", ".jsonl")):
      for i, line in enumerate(open(os.path.join(ROOT, path)), 1):
        if ABSOLUTE.search(line):
          bad.append(f"{path}:{i}")
  assert not bad, bad


def _write_run(root, name, mean_std_n, phase="evaluate", episodes=None, metrics=True):
  run = root / name
  run.mkdir(parents=True)
  split = lambda m, s, n: {  # noqa: E731
    "mean_return": m,
    "std_return": s,
    "episodes": n,
    "per_game": {},
    "capped": False,
  }
  ev = {
    "phase": phase,
    "encoder": "impala",
    "env_steps": 0 if phase == "random_policy" else 64,
    "seed": 0,
    "train_levels": split(*mean_std_n),
    "test_levels": split(*mean_std_n),
  }
  (run / "eval.json").write_text(json.dumps(ev))
  if episodes:
    (run / f"eval_{episodes}.json").write_text(json.dumps(dict(ev, episodes=episodes)))
  if metrics:
    (run / "metrics.jsonl").write_text(json.dumps({"env_steps": 64, "wall_s": 125.0}) + "\n")
  return run


def test_table_numbers_by_hand(et, tmp_path, monkeypatch):
  """Mean ± std / sqrt(n); vs random = difference / sqrt(se^2 + se_random^2)."""
  monkeypatch.setattr(et, "ROOT", str(tmp_path))
  folder = tmp_path / "experiments" / "results" / "toy"
  _write_run(folder, "random", (1.0, 2.0, 16), phase="random_policy", metrics=False)
  _write_run(folder, "run", (3.0, 2.0, 16))
  manifest = {
    "title": "toy",
    "random": "random",
    "runs": [
      {
        "name": "random",
        "launch": "evaluate",
        "config": "experiments/ppo_procgen.py:baseline,cpu",
        "flags": ["--random_policy"],
      },
      {
        "name": "run",
        "launch": "evaluate",
        "config": "experiments/ppo_procgen.py:baseline,cpu",
        "overrides": {"seed": 1},
        "readme": True,
      },
    ],
  }
  (folder / "runs.json").write_text(json.dumps(manifest))
  (folder / "README.md").write_text(
    "x\n<!-- evidence_table: runs -->\nold\n<!-- /evidence_table -->\ny\n"
  )
  table = et.runs_table("experiments/results/toy")
  row = [line for line in table.splitlines() if line.startswith("| `run`")][0]
  # se = 2 / 4 = 0.5 for both runs: (3 - 1) / hypot(0.5, 0.5) = 2.83.
  assert "| 3.00 ± 0.50 | 3.00 ± 0.50 | 16 (eval.json) | - | +2.8 / +2.8 |" in row
  assert "`seed=1`" in row and "| 64 | 2m 05s |" in row
  assert "No config.json kept for: `random`, `run`" in table
  assert et.stale() == ["experiments/results/toy/README.md"]
  assert et.main([]) == 0 and et.stale() == []
  assert "x\n<!-- evidence_table: runs -->\n| run |" in (folder / "README.md").read_text()


def test_collect_copies_the_kept_files(et, tmp_path, monkeypatch):
  monkeypatch.setattr(et, "ROOT", str(tmp_path))
  folder = tmp_path / "experiments" / "results" / "toy"
  folder.mkdir(parents=True)
  (folder / "runs.json").write_text(
    json.dumps(
      {
        "title": "toy",
        "runs": [
          {"name": "a", "launch": "search", "config": "experiments/ppo_procgen.py:search,cpu"}
        ],
      }
    )
  )
  src = _write_run(tmp_path / "w", "a", (1.0, 1.0, 4), episodes=256)
  for name in ("config.json", "alphas.npz", "genotype.json", "DONE", "eval_256_offset1.json"):
    (src / name).write_text("{}")
  (src / "checkpoints").mkdir()
  copied = et.collect("experiments/results/toy", str(tmp_path / "w"))
  assert sorted(os.path.basename(p) for p in copied) == [
    "alphas.npz",
    "config.json",
    "eval.json",
    "eval_256.json",
    "eval_256_offset1.json",
    "genotype.json",
    "metrics.jsonl",
  ]
  assert not (folder / "a" / "DONE").exists() and not (folder / "a" / "checkpoints").exists()


def test_entries_with_seeds(et, tmp_path, monkeypatch):
  """An entry with seeds is one run per seed (NAME/seed_S, --config.seed=S), compared with
  the random run of its own seed, and aggregated over seeds: IQM / mean, P(X > Y)."""
  monkeypatch.setattr(et, "ROOT", str(tmp_path))
  folder = tmp_path / "experiments" / "results" / "toy"
  means = {"search": (2.0, 3.0, 4.0), "random": (1.0, 1.0, 5.0)}
  for name, ms in means.items():
    for seed, m in enumerate(ms):
      phase = "random_policy" if name == "random" else "evaluate"
      run = _write_run(folder, f"{name}/seed_{seed}", (m, 2.0, 16), phase=phase)
      fresh = json.loads((run / "eval.json").read_text())
      # A fresh evaluation also has the validation split, which the tables have no column for.
      fresh.update(seed=seed, validation_levels=dict(fresh["test_levels"], mean_return=9.0))
      (run / "eval_16_offset1.json").write_text(json.dumps(fresh))
  entry = lambda name, **kw: dict(  # noqa: E731
    name=name,
    launch="evaluate",
    config="experiments/ppo_procgen.py:baseline,cpu",
    seeds=[0, 1, 2],
    episodes=16,
    seed_offset=1,
    **kw,
  )
  manifest = {
    "title": "toy",
    "random": "random",
    "runs": [entry("random", flags=["--random_policy"], readme=True), entry("search", readme=True)],
  }
  (folder / "runs.json").write_text(json.dumps(manifest))
  _, runs, ref = et.load("experiments/results/toy")
  assert [r.name for r in runs][:4] == [
    "random/seed_0",
    "random/seed_1",
    "random/seed_2",
    "search/seed_0",
  ]
  cmds = et.commands("experiments/results/toy", manifest)
  w = "workdirs/evidence/toy/search/seed_2"
  assert (
    f"python launch/evaluate.py --config=experiments/ppo_procgen.py:baseline,cpu "
    f"--config.seed=2 --workdir={w}" in cmds
  )
  assert f"python launch/reevaluate.py --workdir={w} --episodes=16 --seed_offset=1" in cmds
  table = et.runs_table("experiments/results/toy")
  # search/seed_1 (3.0) against random/seed_1 (1.0): 2 / hypot(0.5, 0.5) = 2.83.
  row = next(line for line in table.splitlines() if line.startswith("| `search/seed_1`"))
  assert row.endswith("| +2.8 / +2.8 |")
  # Three seeds: IQM (25% trimmed each side of 3 values trims none) = mean = 3.00.
  agg = next(line for line in table.splitlines() if line.startswith("| - | `search` | 3 |"))
  assert agg.startswith("| - | `search` | 3 | 2.00, 3.00, 4.00 | 3.00 [")
  # P(search > random): 2 beats 1, 1 (2 of 3), 3 beats 2 of 3, 4 beats 2 of 3 -> 6 / 9.
  assert "| - | `random` | `search` | 0.33 |" in table
  # The README shows one row per method with seeds (its aggregate), not one per seed.
  readme = et.readme_table()
  assert "`search/seed_0`" not in readme
  assert "| `experiments/results/toy/` | `search` | 3 | 2.00, 3.00, 4.00 | 3.00 [" in readme
