"""Aggregates across seeds (rliable), Procgen normalization, per-game tables, and a report of
several methods x seeds."""

import os

import numpy as np
import pytest

from darts_rl import seeds
from darts_rl.analysis import across_seeds, normalization, per_game, render, report, statistics
from darts_rl.sweep import LocalPool
from experiments.ppo_procgen import get_config
from tests import fake_training


def test_iqm_of_a_known_set():
  # 8 runs: the middle 50% are 2, 3, 4, 5 -> 3.5, whatever the outliers do.
  assert statistics.iqm(np.array([0, 1, 2, 3, 4, 5, 6, 700.0])[:, None]) == 3.5
  # 2 tasks x 4 runs: IQM over all 8 scores together.
  assert statistics.iqm(np.array([[1, 10], [2, 20], [3, 30], [4, 40.0]])) == pytest.approx(
    np.mean([3, 4, 10, 20])
  )


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_more_runs():
  # The same 5 scores, then each repeated 16 times: same spread, 16x the runs, so the
  # interval of the mean narrows about 4x (sqrt 16).
  few = np.array([[0.1], [0.5], [0.2], [0.9], [0.4]])
  many = np.tile(few, (16, 1))
  est = statistics.interval_estimates({"few": few, "many": many}, reps=1000)
  for name, data in (("few", few), ("many", many)):
    for agg, value in (("IQM", statistics.iqm(data)), ("mean", data.mean())):
      point, lo, hi = est[name][agg]
      assert point == pytest.approx(value) and lo <= point <= hi
  width = lambda name: est[name]["mean"][2] - est[name]["mean"][1]
  assert width("many") < 0.5 * width("few")
  # A fixed bootstrap seed: the same intervals twice.
  assert statistics.interval_estimates({"few": few}, reps=1000)["few"] == est["few"]


def test_probability_of_improvement_on_constructed_cases():
  x = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])
  assert statistics.probability_of_improvement(x + 10, x) == 1.0  # always better
  assert statistics.probability_of_improvement(x, x + 10) == 0.0
  assert statistics.probability_of_improvement(x, x) == 0.5  # the same distribution
  # Task 0: 3 wins out of 4 pairs (4 > 1, 4 > 3, 2 > 1; 2 < 3); task 1: ties only (1/2).
  a, b = np.array([[4.0, 1.0], [2.0, 1.0]]), np.array([[1.0, 1.0], [3.0, 1.0]])
  assert statistics.probability_of_improvement(a, b) == pytest.approx((0.75 + 0.5) / 2)


def test_procgen_easy_constants_cover_every_game():
  assert len(normalization.PROCGEN_EASY) == 16
  assert set(normalization.PROCGEN_EASY) == set(__import__("darts_rl.envs").envs.PROCGEN_GAMES)
  for lo, hi in normalization.PROCGEN_EASY.values():
    assert lo < hi
  # A few entries of the paper's table, checked by hand.
  assert normalization.PROCGEN_EASY["starpilot"] == (2.5, 64.0)
  assert normalization.PROCGEN_EASY["fruitbot"] == (-1.5, 32.4)
  assert normalization.PROCGEN_EASY["bigfish"] == (1.0, 40.0)
  assert normalization.normalize_procgen("coinrun", 7.5) == 0.5  # (7.5 - 5) / (10 - 5)
  assert normalization.normalize_procgen("starpilot", 2.5) == 0.0
  assert normalization.normalize_procgen("bigfish", 40.0) == 1.0
  with pytest.raises(ValueError, match="no Procgen normalization constants for 'pong'"):
    normalization.normalize_procgen("pong", 1.0)
  easy = {"kind": "procgen", "distribution_mode": "easy"}
  assert normalization.game_scores({"coinrun": 10.0, "maze": 5.0}, easy) == {
    "coinrun": 1.0,
    "maze": 0.0,
  }
  hard = dict(easy, distribution_mode="hard")
  assert normalization.game_scores({"coinrun": 10.0}, hard) == {"coinrun": 10.0}
  assert normalization.score_kind({"kind": "dmc"}) == "raw"


def _write_multigame_run(root, name, per_game_returns):
  """A finished workdir whose eval.json has per-game test returns."""
  from darts_rl import artifacts

  d = str(root / name)
  config = get_config("baseline,smoke")
  config.env.games = tuple(per_game_returns)
  artifacts.claim(d, "evaluate", config)
  w = artifacts.MetricsWriter(d, None, tensorboard=False)
  w.write(10, {"train/return": 1.0, "wall_s": 1.0})
  mean = float(np.mean(list(per_game_returns.values())))
  artifacts.write_eval(
    d,
    {
      "env_steps": 10,
      "test_levels": {
        "mean_return": mean,
        "std_return": 1.0,
        "episodes": 8,
        "per_game": per_game_returns,
      },
    },
  )
  artifacts.mark_done(d)
  return d


def test_per_game_table_normalizes_before_the_mean(tmp_path):
  # Raw means favour a (bigfish's scale is 40); normalized, b is better on average.
  a = _write_multigame_run(tmp_path, "a", {"bigfish": 40.0, "coinrun": 5.0})
  b = _write_multigame_run(tmp_path, "b", {"bigfish": 1.0, "coinrun": 10.0})
  table = per_game.per_game_tables({"a": a, "b": b})
  assert "| run | bigfish | coinrun | mean |" in table
  assert "| a | 40.00 | 5.00 | 22.50 |" in table and "| b | 1.00 | 10.00 | 5.50 |" in table
  # a: (40-1)/39 = 1, (5-5)/5 = 0; b: 0, 1 -> equal normalized means.
  assert "| a | 1.00 | 0.00 | 0.50 |" in table and "| b | 0.00 | 1.00 | 0.50 |" in table
  assert (
    per_game.per_game_tables({"a": _write_multigame_run(tmp_path, "c", {"coinrun": 7.0})}) is None
  )  # one game: no table


def test_score_tables_keep_three_significant_digits_near_zero(tmp_path):
  # CPU-budget Procgen runs score barely above the easy-mode minimum: normalized 0.0003 to
  # 0.009. One table shares the decimals that show its largest value with 3 digits.
  assert render.decimals([0.0003, 0.0047, -0.0162]) == 4
  assert render.decimals([0.0003, 0.0091]) == 5
  assert render.decimals([0.31, -0.6]) == 3 and render.decimals([2.52, 1.4]) == 2
  assert render.decimals([264.4, 161.0]) == 1 and render.decimals([1e-9]) == 6
  assert render.decimals([0.0, float("nan")]) == 3 and render.decimals([]) == 3
  methods = {"a": [("seed 0", {"starpilot": 0.0003})], "b": [("seed 0", {"starpilot": 0.0091})]}
  md = "\n".join(across_seeds.section(methods, "normalized", str(tmp_path)))
  assert "| a | seed 0 | 0.00030 |" in md and "| b | 1 | 0.00910 [0.00910, 0.00910] |" in md


def test_report_of_methods_times_seeds(tmp_path):
  config = get_config("baseline,smoke")
  w = {}
  for name, seed_list in (("impala", [0, 1]), ("searched", [2, 3])):
    w[name] = str(tmp_path / name)
    seeds.run(config, w[name], "evaluate", seed_list, LocalPool(), training="tests.fake_training")
  out = tmp_path / "report"
  md = open(report.write_report(str(out), w, title="seeds")).read()
  # Every seed is a run of the summary, with its fresh evaluation.
  assert "| impala/seed_0 |" in md and "| searched/seed_3 |" in md
  assert md.count("eval_4_offset1.json") == 4
  # Per-seed scores: the fresh test return, normalized with coinrun's constants (5, 10).
  fresh = {s: fake_training.TABLE[s][3] for s in range(4)}
  norm = {s: (fresh[s] - 5.0) / 5.0 for s in range(4)}
  assert f"| impala | seed 1 | {norm[1]:.3f} |" in md
  iqm_line = next(line for line in md.splitlines() if line.startswith("| searched | 2 |"))
  assert iqm_line.startswith(f"| searched | 2 | {np.mean([norm[2], norm[3]]):.3f} [")
  # Seeds 2, 3 (-0.6, -0.5) beat seeds 0, 1 (-0.3, -0.7) in 2 of 4 pairs... and lose 2.
  p = np.mean([[float(x > y) for y in (norm[2], norm[3])] for x in (norm[0], norm[1])])
  assert f"| impala | searched | {p:.2f} |" in md
  assert os.path.getsize(out / "performance_profiles.png") > 1000


def test_report_of_seed_workdirs_listed_by_hand(tmp_path):
  # Seeds run one by one (one launcher command each) and listed with commas give the same
  # 'Across seeds' section as the seeds workdir they came from; each seed from its config.
  config = get_config("baseline,smoke")
  w = str(tmp_path / "impala")
  seeds.run(config, w, "evaluate", [0, 1], LocalPool(), training="tests.fake_training")
  listed = f"{w}/seed_1,{w}/seed_0"
  assert across_seeds.group_runs(listed) == [(1, f"{w}/seed_1"), (0, f"{w}/seed_0")]
  assert across_seeds.group_runs(f"{w}/seed_0") is None  # one run's workdir
  section = lambda md: md[md.index("## Across seeds") : md.index("## Learning curves")]
  a = open(report.write_report(str(tmp_path / "a"), {"impala": w})).read()
  b = open(report.write_report(str(tmp_path / "b"), {"impala": listed})).read()
  assert "| impala/seed_1 |" in b
  rows = lambda md: sorted(line for line in section(md).splitlines() if line.startswith("| "))
  assert rows(a) == rows(b)
  with pytest.raises(ValueError, match="seed 0 is listed twice"):
    across_seeds.group_runs(f"{w}/seed_0,{w}/seed_0")
  with pytest.raises(ValueError, match="no seed in its config.json"):
    across_seeds.group_runs(f"{w}/seed_0,{tmp_path}/nowhere")


def test_report_of_random_policy_seeds_has_no_missing_curve_note(tmp_path):
  w = str(tmp_path / "random")
  config = get_config("baseline,smoke")
  seeds.run(config, w, "random_policy", [0, 1], LocalPool(), training="tests.fake_training")
  md = open(report.write_report(str(tmp_path / "r"), {"random": f"{w}/seed_0,{w}/seed_1"})).read()
  assert "| random/seed_1 |" in md and "| random | 2 |" in md
  assert "no 'train/return' values" not in md
