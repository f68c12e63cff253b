"""Random search: uniform sampler, per-trial genotypes, resume/extend, comparison report."""

import collections
import itertools
import json
import os

import numpy as np
import pytest
from scipy import stats

from darts_rl import artifacts, random_search
from darts_rl.analysis import compare
from darts_rl.networks.space_config import make_space
from experiments.ppo_procgen import get_config
from tests.launch_process import run_launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 3000  # sampled trials for the chi-square tests
P_MIN = 1e-3  # fixed seeds: deterministic; a biased sampler gives p ~ 0 at this N


def _uniform(counts, categories):
  """Chi-square p-value of counts over `categories` against the uniform distribution."""
  observed = [counts.get(c, 0) for c in categories]
  assert sum(observed) == sum(counts.values()), f"unexpected categories in {counts}"
  return stats.chisquare(observed).pvalue


def test_micro_trial_genotypes_are_uniform():
  config = get_config("search")
  ops = [o for o in make_space(config.encoder).op_names if o != "Zero"]
  op_counts = collections.Counter()
  input_counts = collections.defaultdict(collections.Counter)  # node -> kept input subsets
  for i in range(N):
    for node, edges in enumerate(random_search.trial_genotype(config, i).cell("normal")):
      op_counts.update(op for op, _ in edges)
      input_counts[node][tuple(sorted(j for _, j in edges))] += 1
  assert _uniform(op_counts, ops) > P_MIN, op_counts
  assert input_counts[0] == {(0,): N} and input_counts[1] == {(0, 1): N}
  for node in (2, 3):  # every pair of distinct inputs out of 0..node, uniformly
    pairs = list(itertools.combinations(range(node + 1), 2))
    assert _uniform(input_counts[node], pairs) > P_MIN, input_counts[node]


def test_macro_trial_genotypes_are_uniform():
  config = get_config("search")
  config.encoder.space = "macro"
  space = make_space(config.encoder)
  down, blocks = collections.Counter(), collections.Counter()
  for i in range(N // 3):
    for stage in random_search.trial_genotype(config, i).stages:
      down[stage.downsample] += 1
      blocks.update(stage.blocks)
  assert _uniform(down, space.downsample_ops) > P_MIN, down
  assert _uniform(blocks, space.block_ops) > P_MIN, blocks


def test_trial_genotype_is_a_pure_function_of_seed_and_index():
  config = get_config("search")
  forward = [random_search.trial_genotype(config, i) for i in range(20)]
  backward = [random_search.trial_genotype(config, i) for i in reversed(range(20))][::-1]
  assert forward == backward
  assert len(set(forward)) > 15  # different trials, different genotypes
  other = get_config("search")
  other.seed = 1
  assert [random_search.trial_genotype(other, i) for i in range(20)] != forward
  other.seed = 0
  other.loop.total_env_steps = 7  # nothing but the seed and the space matters
  assert random_search.trial_genotype(other, 3) == forward[3]


def test_bad_configs_are_refused(tmp_path):
  with pytest.raises(ValueError, match="encoder.kind='impala'"):
    random_search.run(get_config("baseline,smoke"), str(tmp_path / "a"), 1)
  config = get_config("search,smoke")
  config.encoder.genotype = "/some/genotype.json"
  with pytest.raises(ValueError, match="leave encoder.genotype empty"):
    random_search.run(config, str(tmp_path / "b"), 1)
  with pytest.raises(ValueError, match="num_trials"):
    random_search.run(get_config("search,smoke"), str(tmp_path / "c"), 0)
  assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


TINY = {
  "encoder.channels": "(4,)",
  "encoder.cells_per_stage": "1",
  "loop.total_env_steps": "64",  # one PPO iteration
  "loop.eval_episodes": "2",
  "loop.eval_max_env_steps": "400",
}


def _tiny_config():
  c = get_config("search,smoke")
  c.encoder.channels = (4,)
  c.encoder.cells_per_stage = 1
  c.loop.total_env_steps = 64
  c.loop.eval_episodes = 2
  c.loop.eval_max_env_steps = 400
  return c


def _launch(workdir, *args):
  """launch/random_search.py on the tiny config (the same as _tiny_config())."""
  return run_launcher(
    "random_search",
    "--config=experiments/ppo_procgen.py:search,smoke",
    *[f"--config.{k}={v}" for k, v in TINY.items()],
    f"--workdir={workdir}",
    *args,
  )


def _rows(workdir):
  with open(os.path.join(workdir, "trials.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.mark.heavy
def test_resume_and_extend(tmp_path, capsys):
  w = str(tmp_path / "rs")
  config = _tiny_config()
  rows = random_search.run(config, w, num_trials=2)
  assert [r["trial"] for r in rows] == [0, 1] and _rows(w) == rows
  for r in rows:
    assert r["env_steps"] == 64 and r["wall_s"] > 0
    assert r["genotype"] == random_search.trial_genotype(config, r["trial"]).to_dict()
    assert {"train_levels", "validation_levels", "test_levels"} <= set(r)
  # The trials that were ever the best on validation levels have a fresh evaluation.
  assert [r["trial"] for r in rows if "fresh" in r] == random_search.selected_trials(rows)
  assert rows[0]["fresh"]["seed_offset"] == 1 and rows[0]["fresh"]["episodes"] == 2
  assert "trial 1 done (2/2 finished)" in capsys.readouterr().out
  t0 = os.path.join(w, "trials", "trial_000")
  stamp = os.stat(os.path.join(t0, "eval.json")).st_mtime_ns
  # A kill after trial 1's last checkpoint but before its DONE; then the launcher extends the
  # search to 3 trials in worker processes: trial 0 is kept, trial 1 resumes, trial 2 runs.
  os.remove(os.path.join(w, "trials", "trial_001", artifacts.DONE))
  out = _launch(w, "--num_trials=3", "--parallel=2")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "1 of 3 trials finished, 2 to run" in out.stdout and "] trial 0:" not in out.stdout
  rows = _rows(w)
  assert [r["trial"] for r in rows] == [0, 1, 2]
  assert rows[2]["genotype"] == random_search.trial_genotype(config, 2).to_dict()
  assert os.stat(os.path.join(t0, "eval.json")).st_mtime_ns == stamp
  assert sorted(os.listdir(os.path.join(w, "logs"))) == ["trial_001.log", "trial_002.log"]
  with open(os.path.join(w, "logs", "trial_001.log")) as f:
    assert "resuming" in f.read()
  # Another config in the same workdir: refused (the launcher prints it as one error line,
  # tests/test_cli.py), nothing changed.
  other = _tiny_config()
  other.seed = 5
  with pytest.raises(ValueError, match="seed: 0 -> 5"):
    random_search.run(other, w, num_trials=4)
  assert _rows(w) == rows


# --- Comparison report from synthetic workdirs ------------------------------------------------


def _trials(path, returns, wall, validation=None, fresh=None):
  """A random-search workdir's trials.jsonl: test returns, train = test + 10, and optionally
  validation returns and fresh test returns (None: the trial has no fresh evaluation)."""
  os.makedirs(path)
  with open(os.path.join(path, "trials.jsonl"), "w") as f:
    for i, (ret, w) in enumerate(zip(returns, wall)):
      row = {
        "trial": i,
        "env_steps": 100,
        "wall_s": w,
        "test_levels": {"mean_return": ret, "std_return": 0.0},
        "train_levels": {"mean_return": ret + 10, "std_return": 0.0},
      }
      if validation is not None:
        row["validation_levels"] = {"mean_return": validation[i]}
      if fresh is not None and fresh[i] is not None:
        row["fresh"] = {"test_levels": {"mean_return": fresh[i]}, "file": "eval_4_offset1.json"}
      f.write(json.dumps(row) + "\n")
  return str(path)


def _run(path, steps, walls, test=None, train=None):
  """A workdir whose metrics log (steps, wall_s) pairs and then the final-eval row."""
  os.makedirs(path)
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    for s, w in zip(steps, walls):
      f.write(json.dumps({"env_steps": s, "wall_s": w, "train/return": 0.0}) + "\n")
    f.write(json.dumps({"env_steps": steps[-1], "eval/test_levels/return": test}) + "\n")
  if test is not None:
    ev = {
      "env_steps": steps[-1],
      "test_levels": {"mean_return": test, "std_return": 0.1},
      "train_levels": {"mean_return": train, "std_return": 0.1},
    }
    with open(os.path.join(path, "eval.json"), "w") as f:
      json.dump(ev, f)
  return str(path)


def _darts(tmp_path, name, search_steps, search_wall, eval_wall, test):
  s = _run(
    tmp_path / f"{name}_search", [search_steps // 2, search_steps], [search_wall / 2, search_wall]
  )
  e = _run(tmp_path / f"{name}_eval", [50, 100], [eval_wall / 2, eval_wall], test, test + 10)
  return s, e


def _table(md):
  """report.md table -> {run: [cells]}"""
  rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
  return {
    cells[1]: cells
    for cells in ([c.strip() for c in line.strip("|").split("|")] for line in rows[1:])
    if len(cells) == 10
  }


def test_comparison_report_numbers(tmp_path):
  r0 = _trials(tmp_path / "rs0", [1, 3, 2], [10, 20, 30])  # cum steps 100/200/300, wall 10/30/60
  r1 = _trials(tmp_path / "rs1", [2, 1, 4], [5, 5, 5])  # wall 5/10/15
  d0 = _darts(tmp_path, "d0", 100, 40.0, 8.0, 2.5)  # 200 env steps, 48 s
  d1 = _darts(tmp_path, "d1", 150, 30.0, 12.0, 3.5)  # 250 env steps, 42 s
  assert artifacts.training_compute(d0[0]) == (100, 40.0)  # wall_s survives the final-eval row
  path = compare.write_comparison(str(tmp_path / "out"), [r0, r1], [d0, d1])
  md = open(path).read()
  assert os.path.getsize(tmp_path / "out" / "search_efficiency.png") > 1000
  assert "**test levels**" in md and "225 env_steps, 45 wall_s" in md
  t = _table(md)
  # run: [method, run, seed, archs, env steps, wall, selected, reported return, in DARTS
  # steps, in DARTS wall]. No validation split: selection on test levels, said to be biased;
  # no fresh evaluation: † on the run's own.
  assert "selected trial's return carries its own selection noise" in md
  assert t["rs0"][3:] == ["3", "300", "1m 00s", "trial 1", "3.00 †", "3.00", "3.00"]
  assert t["rs1"][3:] == ["3", "300", "15.0 s", "trial 2", "4.00 †", "2.00", "4.00"]
  assert t["d0_search"][4:8] == ["200", "48.0 s", "its cell", "2.50 †"]
  assert t["d1_search"][4:8] == ["250", "42.0 s", "its cell", "3.50 †"]
  means = {
    c[0]: c
    for c in (
      [x.strip() for x in line.strip("|").split("|")]
      for line in md.splitlines()
      if line.startswith("| **")
    )
  }
  # ± is the sample std over the two seeds (n-1): |3 - 4| / sqrt(2) = 0.71.
  assert means["**random search**"][7:] == ["3.50 ± 0.71", "2.50 ± 0.71", "3.50 ± 0.71"]
  assert means["**RL-DARTS**"][4:6] + means["**RL-DARTS**"][7:8] == [
    "225 ± 35",
    "45.0 s ± 4.2 s",
    "3.00 ± 0.71",
  ]
  # Across seeds: P(random search > RL-DARTS): 3 and 4 against 2.5 and 3.5 win three
  # pairs of four (all but 3 < 3.5).
  assert "| random search | RL-DARTS | 0.75 |" in md

  grid, mean, std = compare.mean_band(
    [compare.best_so_far(artifacts.read_trials(r), "test_levels", "env_steps") for r in (r0, r1)]
  )
  np.testing.assert_allclose(grid, [100, 200, 300])
  np.testing.assert_allclose(mean, [1.5, 2.5, 3.5])
  np.testing.assert_allclose(std, [0.5 * 2**0.5] * 3)  # sample std of two seeds
  # Wall time: cumulative 10/30/60 and 5/10/15; the band covers [10, 15], where both exist.
  grid, mean, _ = compare.mean_band(
    [compare.best_so_far(artifacts.read_trials(r), "test_levels", "wall_s") for r in (r0, r1)]
  )
  np.testing.assert_allclose(grid, [10, 15])
  np.testing.assert_allclose(mean, [1.5, 2.5])


def test_comparison_falls_back_to_train_levels(tmp_path):
  r0 = _trials(tmp_path / "rs0", [1, 3, 9], [10, 10, 10])
  rows = [json.loads(line) for line in open(os.path.join(r0, "trials.jsonl"))]
  del rows[1]["test_levels"]  # e.g. a run without test levels
  rows[2]["train_levels"]["mean_return"] = None  # an evaluation that finished no episode
  with open(os.path.join(r0, "trials.jsonl"), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))
  d0 = _darts(tmp_path, "d0", 100, 40.0, 8.0, 2.5)
  md = open(compare.write_comparison(str(tmp_path / "out"), [r0], [d0])).read()
  assert "**train levels**" in md
  t = _table(md)
  assert t["rs0"][3:8] == ["3", "300", "30.0 s", "trial 1", "13.00 †"]
  assert t["d0_search"][7] == "12.50 †"


def test_selection_without_peeking(tmp_path):
  """Test-level selection would pick trial 2 (its lucky test return 9); validation selection
  picks trial 1, and the report shows trial 1's fresh test evaluation (4.5), not a number any
  selection looked at."""
  r0 = _trials(
    tmp_path / "rs0",
    returns=[3.0, 5.0, 9.0, 4.0],
    wall=[10] * 4,
    validation=[1.0, 6.0, 2.0, 5.0],
    fresh=[2.5, 4.5, None, None],
  )
  rows = artifacts.read_trials(r0)
  assert artifacts.running_best(rows, "test_levels")[-1] == 2
  assert artifacts.running_best(rows, "validation_levels")[-1] == 1
  assert random_search.selected_trials(rows) == [0, 1]  # the trials that get fresh evaluations
  used, value = compare.best_so_far(rows, "test_levels", "env_steps")
  np.testing.assert_allclose(value, [2.5, 4.5, 4.5, 4.5])  # fresh returns of the picks
  s, e = _darts(tmp_path, "d0", 100, 40.0, 8.0, 2.5)
  artifacts.write_eval(e, {"env_steps": 100, "test_levels": {"mean_return": 2.0}}, 4, 1)
  md = open(compare.write_comparison(str(tmp_path / "out"), [r0], [(s, e)])).read()
  t = _table(md)
  assert t["rs0"][6:8] == ["trial 1", "4.50"] and t["d0_search"][7] == "2.00"  # both fresh
  assert "best so far on **validation levels**" in md and "selection noise" not in md


def test_compare_launcher(tmp_path):
  r0 = _trials(tmp_path / "rs0", [1, 3], [10, 10])
  s, e = _darts(tmp_path, "d0", 100, 40.0, 8.0, 2.5)
  run = lambda *a: run_launcher("compare", *a)
  out = run(f"--out={tmp_path / 'out'}", f"--random={r0}", f"--darts={s}:{e}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert (tmp_path / "out" / "report.md").exists()
  bad = run(f"--out={tmp_path / 'bad'}", f"--random={tmp_path / 'nothing'}")
  assert bad.returncode == 1
  last = bad.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "no trials.jsonl" in last
  pair = run(f"--out={tmp_path / 'bad'}", f"--darts={s}")
  assert pair.returncode == 1 and "SEARCH_DIR:EVAL_DIR" in pair.stderr
