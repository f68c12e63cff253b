"""Report: genotype diagrams, alpha plots, learning curves, summary table on synthetic workdirs."""

import json
import os

import numpy as np
import pytest

from darts_rl import artifacts
from darts_rl.analysis import report
from darts_rl.analysis.diagram import draw_genotype
from darts_rl.analysis.render import labels_overlap, save_figure
from darts_rl.analysis.similarity import SearchOutcome
from darts_rl.formatting import format_tick
from darts_rl.search.alphas import mixing_weights
from darts_rl.search.genotype import sample_genotype

OPS = ("Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Rows sharing env_steps (the final evaluation adds one at the last step; hand-edited or
# concatenated logs may repeat steps) are merged, later values winning key by key.
SEARCH_ROWS = [
  {"env_steps": 0, "wall_s": 0.5, "train/return": None, "sps": 0.0},
  {"env_steps": 100, "wall_s": 10.0, "train/return": 1.0, "loss/total": 0.5},
  {"env_steps": 200, "wall_s": 20.0, "train/return": 999.0},
  {"env_steps": 300, "wall_s": 30.0, "train/return": 888.0, "eval/train_levels/return": 777.0},
  {
    "env_steps": 200,
    "wall_s": 21.0,
    "train/return": 2.0,
    "eval/train_levels/return": 1.5,
    "eval/test_levels/return": 1.25,
  },
  {"env_steps": 300, "wall_s": 31.0, "train/return": 3.0},
  {"env_steps": 400, "wall_s": 754.0, "train/return": 5.0, "sps": 10.0},
]
EVAL_ROWS = [
  {
    "env_steps": 50 * (i + 1),
    "wall_s": 10.5 * (i + 1),
    "train/return": r,
    "train/return/coinrun": r + 1,
    "train/return/bigfish": 2 * r,
  }
  for i, r in enumerate([1.0, 2.0, 4.0, 8.0])
]
EVAL_JSON = {
  "phase": "evaluate",
  "encoder": "genotype",
  "env_steps": 200,
  "train_levels": {"mean_return": 10.5, "std_return": 2.25, "episodes": 16},
  "test_levels": {"mean_return": 7.0, "std_return": 1.5, "stderr_return": 0.375, "episodes": 16},
  "seed": 3,
}
NUM_STEPS, NUM_NODES = 6, 4


def _write_jsonl(path, rows):
  with open(path, "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))


def _genotype(seed=0):
  return sample_genotype(np.random.default_rng(seed), OPS, ("normal",), NUM_NODES, 2)


def _make_search_dir(root):
  d = root / "search"
  d.mkdir()
  _write_jsonl(d / "metrics.jsonl", SEARCH_ROWS)
  rng = np.random.default_rng(1)
  arrays = {
    f"normal/node{i}": rng.normal(size=(NUM_STEPS, 1 + i, len(OPS))) * 2 for i in range(NUM_NODES)
  }
  np.savez(
    d / "alphas.npz",
    env_steps=np.arange(NUM_STEPS, dtype=np.int64) * 100,
    op_names=np.array(OPS),
    temperature=np.float64(1.0),
    **arrays,
  )
  (d / "genotype.json").write_text(_genotype(0).to_json())
  (d / "config.json").write_text(json.dumps({"encoder": {"kind": "supernet"}}))
  return d, arrays


def _make_eval_dir(root):
  d = root / "eval"
  d.mkdir()
  _write_jsonl(d / "metrics.jsonl", EVAL_ROWS)
  (d / "eval.json").write_text(json.dumps(EVAL_JSON))
  (d / "genotype.json").write_text(_genotype(5).to_json())
  (d / "config.json").write_text(json.dumps({"encoder": {"kind": "fixed"}}))
  return d


def _assert_png(path):
  assert os.path.isfile(path), path
  with open(path, "rb") as f:
    data = f.read()
  assert data[:8] == PNG_SIGNATURE, path
  assert len(data) > 1024, path


def _dedup_last(rows):
  by_step = {}
  for r in rows:
    by_step[r["env_steps"]] = {**by_step.get(r["env_steps"], {}), **r}
  return [by_step[s] for s in sorted(by_step)]


def test_series_of_merged_metrics_rows(tmp_path):
  d, _ = _make_search_dir(tmp_path)
  rows = artifacts.read_metrics(str(d))
  assert rows == _dedup_last(SEARCH_ROWS)
  steps, values = report.series(rows, "train/return")  # the null at env_steps 0 is skipped
  np.testing.assert_array_equal(steps, [100, 200, 300, 400])
  np.testing.assert_array_equal(values, [1.0, 2.0, 3.0, 5.0])


def test_write_report(tmp_path):
  search, arrays = _make_search_dir(tmp_path)
  ev = _make_eval_dir(tmp_path)
  out = tmp_path / "search" / "report"
  path = report.write_report(
    str(out),
    {"search": str(search), "eval run": str(ev)},
    search_dir=str(search),
    title="test report",
  )
  assert path == str(out / "report.md")
  for name in ("alphas.png", "curves.png", "genotype_search.png", "genotype_eval_run.png"):
    _assert_png(str(out / name))
  assert sorted(os.listdir(out)) == sorted(
    ["alphas.png", "curves.png", "genotype_search.png", "genotype_eval_run.png", "report.md"]
  )  # no temp files
  md = (out / "report.md").read_text()
  assert md.startswith("# test report")
  for name in ("alphas.png", "curves.png", "genotype_search.png", "genotype_eval_run.png"):
    assert f"]({name})" in md

  # Expected rows, computed here from the synthetic data.
  s_rows = _dedup_last(SEARCH_ROWS)
  s_train = [r["train/return"] for r in s_rows if r.get("train/return") is not None]
  s_eval_train = [r["eval/train_levels/return"] for r in s_rows if "eval/train_levels/return" in r]
  s_eval_test = [r["eval/test_levels/return"] for r in s_rows if "eval/test_levels/return" in r]
  assert s_train[-3:] == [2.0, 3.0, 5.0]
  search_row = (
    f"| search | supernet | {s_rows[-1]['env_steps']} | {np.mean(s_train[-3:]):.2f} | "
    f"{s_eval_train[-1]:.2f}* | {s_eval_test[-1]:.2f}* | - | 12m 34s |"
  )
  assert search_row == "| search | supernet | 400 | 3.33 | 777.00* | 1.25* | - | 12m 34s |"
  e_train = [r["train/return"] for r in EVAL_ROWS]
  tr, te = EVAL_JSON["train_levels"], EVAL_JSON["test_levels"]
  # ± standard error: stderr_return when the file has it, else std / sqrt(n) (older files).
  eval_row = (
    f"| eval run | fixed | {EVAL_ROWS[-1]['env_steps']} | {np.mean(e_train[-3:]):.2f} | "
    f"{tr['mean_return']:.2f} ± {tr['std_return'] / 4:.2f} (n={tr['episodes']}) | "
    f"{te['mean_return']:.2f} ± {te['stderr_return']:.2f} (n={te['episodes']}) | "
    f"eval.json | {EVAL_ROWS[-1]['wall_s']:.1f} s |"
  )
  assert eval_row == (
    "| eval run | fixed | 200 | 4.67 | 10.50 ± 0.56 (n=16) | 7.00 ± 0.38 (n=16) "
    "| eval.json | 42.0 s |"
  )
  assert search_row in md.splitlines()
  assert eval_row in md.splitlines()
  # Multi-game runs get a per-game table.
  games = sorted(k.split("/")[-1] for k in EVAL_ROWS[0] if k.startswith("train/return/"))
  assert games == ["bigfish", "coinrun"]
  assert "| run | bigfish | coinrun |" in md and "| search | - | - |" in md
  assert (
    f"| eval run | {np.mean([r['train/return/bigfish'] for r in EVAL_ROWS][-3:]):.2f} | "
    f"{np.mean([r['train/return/coinrun'] for r in EVAL_ROWS][-3:]):.2f} |"
  ) in md
  # The genotypes' describe() text sits in code blocks; the search dir is drawn once.
  assert "```\n" + _genotype(0).describe() + "\n```" in md
  assert "```\n" + _genotype(5).describe() + "\n```" in md
  assert md.count("![genotype of") == 2


def test_alpha_panels_use_mixing_weights(tmp_path):
  _, arrays = _make_search_dir(tmp_path)
  panels = report.alpha_panels(
    artifacts.AlphaSnapshots(np.arange(NUM_STEPS) * 100, OPS, 2.0, arrays)
  )
  assert len(panels) == NUM_NODES * (NUM_NODES + 1) // 2
  by_title = {p[0]: p for p in panels}
  title, w, labels, pos = by_title["normal n2<-node0"]
  assert labels == list(OPS) and pos == (2, 1)
  np.testing.assert_allclose(
    w, np.asarray(mixing_weights(arrays["normal/node2"], 2.0))[:, 1], rtol=1e-6
  )
  # Non-micro keys: softmax over the last axis, one panel per row.
  macro = artifacts.AlphaSnapshots(
    np.arange(3),
    ("a", "b", "c", "d"),
    1.0,
    {"stage0/block": np.zeros((3, 4)), "width": np.ones((3, 2, 3))},
  )
  panels = report.alpha_panels(macro)
  assert [p[0] for p in panels] == ["stage0/block", "width[0]", "width[1]"]
  np.testing.assert_allclose(panels[0][1], 0.25)
  assert panels[1][2] == ["choice 0", "choice 1", "choice 2"]
  _assert_png(report.plot_alpha_evolution(macro, str(tmp_path / "m.png")))


def test_summary_table_uses_the_evaluation_with_most_episodes(tmp_path):
  ev = _make_eval_dir(tmp_path)
  split = lambda m, n: {"mean_return": m, "std_return": 1.0, "episodes": n}
  for n, m in ((64, 20.0), (256, 30.0)):  # launch/reevaluate.py's files; 256 > 64 > 16
    (ev / f"eval_{n}.json").write_text(
      json.dumps(dict(EVAL_JSON, episodes=n, train_levels=split(m, n), test_levels=split(m + 1, n)))
    )
  assert artifacts.best_eval(str(ev))[1] == "eval_256.json"
  table = report.summary_table({"e": str(ev)})
  assert "| 30.00 ± 0.06 (n=256) | 31.00 ± 0.06 (n=256) | eval_256.json |" in table
  assert "standard error of the mean over n episodes" in table
  # A fresh evaluation (other seeds) is the reported one, whatever its episode count; a
  # split it adds (validation levels) gets its column.
  (ev / "eval_16_offset1.json").write_text(
    json.dumps(
      dict(
        EVAL_JSON,
        episodes=16,
        seed_offset=1,
        validation_levels=split(3.0, 16),
        test_levels=dict(split(2.0, 16), stderr_return=0.3),
      )
    )
  )
  assert (
    "| 10.50 ± 0.56 (n=16) | 3.00 ± 0.25 (n=16) | 2.00 ± 0.30 (n=16) | eval_16_offset1.json |"
  ) in report.summary_table({"e": str(ev)})
  (ev / "eval_16_offset1.json").unlink()
  (ev / "eval_256.json").unlink()
  assert "| 20.00 ± 0.12 (n=64) | 21.00 ± 0.12 (n=64) |" in report.summary_table({"e": str(ev)})
  for name in ("eval_64.json", "eval.json"):
    (ev / name).unlink()
  assert artifacts.best_eval(str(ev)) == (None, None)
  assert "standard error of the mean" not in report.summary_table({"e": str(ev)})
  (ev / "eval_64.json").write_text("{not json")
  with pytest.raises(artifacts.ArtifactError, match="eval_64.json"):
    artifacts.best_eval(str(ev))


def test_final_evaluations_give_standard_errors_of_the_best_evaluation(tmp_path):
  ev = _make_eval_dir(tmp_path)
  bare = tmp_path / "bare"
  bare.mkdir()
  _write_jsonl(bare / "metrics.jsonl", EVAL_ROWS)  # no evaluation file: left out
  tr, te = EVAL_JSON["train_levels"], EVAL_JSON["test_levels"]
  finals = report.final_evaluations({"e": str(ev), "bare": str(bare)})
  assert list(finals) == ["e"]
  assert finals["e"]["train_levels"] == pytest.approx((10.5, 2.25 / 4, 16))
  assert finals["e"]["test_levels"] == pytest.approx((te["mean_return"], te["stderr_return"], 16))
  (ev / "eval_100.json").write_text(
    json.dumps(
      dict(
        EVAL_JSON,
        episodes=100,
        train_levels={"mean_return": 4.0, "std_return": 3.0, "episodes": 100},
        test_levels={"mean_return": 5.0},
      )
    )
  )  # no std: standard error unknown
  finals = report.final_evaluations({"e": str(ev)})
  assert finals["e"]["train_levels"] == pytest.approx((4.0, 0.3, 100))
  assert finals["e"]["test_levels"][0] == 5.0 and np.isnan(finals["e"]["test_levels"][1])
  assert tr["episodes"] == 16
  out = report.plot_learning_curves({"e": str(ev), "bare": str(bare)}, str(tmp_path / "c.png"))
  _assert_png(out)


def test_missing_metrics_is_a_clear_error(tmp_path):
  empty = tmp_path / "not_a_workdir"
  empty.mkdir()
  out = tmp_path / "report"
  with pytest.raises(
    artifacts.ArtifactError, match=r"not_a_workdir: no metrics.jsonl \(is this a darts-rl"
  ):
    report.write_report(str(out), {"x": str(empty)})
  assert not out.exists()


def test_missing_optional_inputs_are_noted(tmp_path):
  bare = tmp_path / "bare"
  bare.mkdir()
  _write_jsonl(bare / "metrics.jsonl", [{"env_steps": 10, "wall_s": 1.0, "sps": 3.0}])
  (bare / "eval.json").write_text("{not json")
  path = report.write_report(str(tmp_path / "report"), {"bare": str(bare)}, search_dir=str(bare))
  md = open(path).read()
  assert "| bare | - | 10 | - | - | 1.0 s |" in md
  assert "no alphas.npz" in md and "no genotype.json" in md and "evaluation skipped" in md
  _assert_png(str(tmp_path / "report" / "curves.png"))


def test_draw_genotype_svg_png_and_describe_fallback(tmp_path):
  svg = draw_genotype(_genotype(0), str(tmp_path / "g.svg"))
  text = open(svg).read()
  assert "<svg" in text
  for _, cell in _genotype(0).cells:
    for node in cell:
      for op, _ in node:
        assert f">{op}<" in text  # every edge label is in the SVG as text
  _assert_png(draw_genotype(_genotype(0), str(tmp_path / "g.png")))

  class Macro:
    def describe(self):
      return "stage0: conv3x3 -> maxpool -> 2 x res\nstage1: ..."

  _assert_png(draw_genotype(Macro(), str(tmp_path / "macro.png")))
  with pytest.raises(TypeError):
    draw_genotype(object(), str(tmp_path / "x.png"))
  with pytest.raises(ValueError, match="must end with"):
    draw_genotype(_genotype(0), str(tmp_path / "g.jpg"))
  assert sorted(os.listdir(tmp_path)) == ["g.png", "g.svg", "macro.png"]


def test_macro_genotype_is_described(tmp_path):
  macro = pytest.importorskip("darts_rl.search.macro")
  g = macro.MacroGenotype(
    tuple(
      macro.StageGene(sorted(macro.DOWNSAMPLE_OPS)[0], (sorted(macro.BLOCK_OPS)[0],) * 2, w)
      for w in (16, 32, 32)
    )
  )
  d = tmp_path / "run"
  d.mkdir()
  _write_jsonl(d / "metrics.jsonl", [{"env_steps": 10, "wall_s": 1.0, "train/return": 1.0}])
  (d / "genotype.json").write_text(g.to_json())
  md = open(report.write_report(str(tmp_path / "report"), {"macro": str(d)})).read()
  assert "```\n" + g.describe() + "\n```" in md
  _assert_png(str(tmp_path / "report" / "genotype_macro.png"))


def test_collapse_monitor_figure_and_table(tmp_path):
  from darts_rl.analysis import collapse

  rows = lambda eig, free: [
    {"env_steps": 64 * (i + 1), "arch/eigenvalue": e, "alpha/normal/param_free": f}
    for i, (e, f) in enumerate(zip(eig, free))
  ]
  searches = {
    "default/seed_0": rows([0.1, 0.4, 0.9], [0.75, 0.8, 0.9]),
    "robust/seed_0": rows([0.1, 0.2, 0.15], [0.75, 0.74, 0.72]),
    "ada/seed_0": rows([0.1, 0.3, 0.2], [0.75, 0.76, 0.77]),
    "ada/seed_1": rows([0.1, 0.1], [0.75, 0.75]),
  }
  searches["robust/seed_0"][-1]["arch/stopped_at_update"] = 12
  # DARTS-ADA: the L2 raised twice (x10 each), the alphas last rolled back to arch update 8.
  for row, (l2, restarts) in zip(searches["ada/seed_0"], [(3e-4, 0), (3e-3, 1), (3e-2, 2)]):
    row.update({"arch/l2": l2, "arch/ada_restarts": restarts})
  searches["ada/seed_0"][-1]["arch/rolled_back_to_update"] = 8
  for row in searches["ada/seed_1"]:
    row.update({"arch/l2": 3e-4, "arch/ada_restarts": 0})
  workdirs = {label: str(tmp_path / label.replace("/", "_")) for label in searches}
  png = collapse.plot_collapse_monitor(searches, str(tmp_path / "collapse.png"))
  assert png and (tmp_path / "collapse.png").stat().st_size > 0
  table = collapse.collapse_table(searches, workdirs).splitlines()
  assert table[2] == "| default/seed_0 | normal 0.900 | 0.1 / 0.9 / 0.9 | - | - | - | - |"
  assert (
    table[3]
    == "| robust/seed_0 | normal 0.720 | 0.1 / 0.15 / 0.2 | frozen at arch update 12 | - | - | - |"
  )
  assert table[4].startswith(
    "| ada/seed_0 | normal 0.770 | 0.1 / 0.2 / 0.3 | L2 raised 2x to 0.03, back to arch update 8 |"
  )
  assert "| 0.1 / 0.1 / 0.1 | L2 never raised |" in table[5]
  # With alphas.npz: how far the final weights moved from uniform (1/3), the median margin of
  # the best op over the runner-up, Zero excluded, and when the best ops settled. Final edges:
  # [0.5, 0.3, 0.2] -> margin 0.2; [0.3, 0.3, 0.4] (Zero's 0.4 ignored) -> 0; [0.6, 0.1, 0.3]
  # -> 0.5. Median 0.2; moved max |w - 1/3| = 0.6 - 1/3 = 0.267. Snapshots at 64, 128, 192:
  # the first edge's best op is Relu at 64, Conv3x3 from 128 on -> settled at 128.
  final = np.log(np.array([[0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.6, 0.1, 0.3]], np.float32))
  first = final.copy()
  first[0] = np.log([0.3, 0.5, 0.2])
  hist = np.stack([first, final, final])  # [S=3, edges, K]
  d = tmp_path / "default_seed_0"
  d.mkdir()
  np.savez(
    d / "alphas.npz",
    env_steps=np.array([64, 128, 192]),
    op_names=np.array(["Conv3x3", "Relu", "Zero"]),
    temperature=np.array(1.0),
    **{"normal/node0": hist[:, :1], "normal/node1": hist[:, 1:]},
  )
  assert SearchOutcome.load(str(d)).settled == 128
  table = collapse.collapse_table(searches, workdirs).splitlines()
  assert table[2].endswith("| - | - | 0.267 / 0.200 | 128 env steps |")
  # Nothing to show without the monitor's keys.
  plain = {"fixed": [{"env_steps": 64, "train/return": 1.0}]}
  assert collapse.plot_collapse_monitor(plain, str(tmp_path / "none.png")) is None
  assert collapse.collapse_table(plain, {"fixed": str(tmp_path)}) is None
  from darts_rl.search.genotype import Genotype

  g = Genotype.from_dict(
    {
      "format": "darts_rl.genotype/1",
      "op_set": ["Conv3x3", "Relu", "Zero"],
      "num_nodes": 2,
      "cells": {"normal": [[["Relu", 0]], [["Conv3x3", 0], ["Relu", 1]]]},
    }
  )
  assert collapse.param_free_edges(g) == "2 of 3"


def test_tick_labels_are_short():
  assert [format_tick(v) for v in (0, 0.25, 3.0, 500, 10_000, 12_500, 2.5e6, -12_500)] == [
    "0",
    "0.25",
    "3",
    "500",
    "10k",
    "12.5k",
    "2.5M",
    "-12.5k",
  ]


def test_tick_labels_never_overlap(tmp_path, monkeypatch):
  """alphas.png of a 15k-step search in a 4x3 grid of narrow panels: its x tick labels ran
  together ("100001250015000"); now they read 10k, 12.5k and stand apart on every axis."""
  figures = []

  def keep(fig, path, **kwargs):
    figures.append(fig)
    return save_figure(fig, path, **kwargs)

  monkeypatch.setattr(report, "save_figure", keep)
  steps = np.arange(0, 15_001, 500)
  arrays = {
    f"normal/node{i}": np.random.default_rng(i).normal(size=(steps.size, i + 1, len(OPS)))
    for i in range(NUM_NODES)
  }
  snaps = artifacts.AlphaSnapshots(steps, OPS, 1.0, arrays)
  _assert_png(report.plot_alpha_evolution(snaps, str(tmp_path / "alphas.png")))
  (fig,) = figures
  fig.draw_without_rendering()
  texts = set()
  for ax in fig.axes:
    for axis in (ax.xaxis, ax.yaxis):
      assert not labels_overlap(axis), [t.get_text() for t in axis.get_ticklabels()]
    texts |= {t.get_text() for t in ax.xaxis.get_ticklabels()}
  assert texts & {"5k", "10k", "15k", "12.5k"} and not any(len(t) > 5 for t in texts), texts


def test_every_figure_is_saved_through_save_figure():
  """One tick rule for every plot: analysis modules save figures only via render.save_figure."""
  here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "darts_rl")
  direct = []
  for name in sorted(os.listdir(os.path.join(here, "analysis"))):
    if name.endswith(".py") and name != "render.py":
      if ".savefig(" in open(os.path.join(here, "analysis", name)).read():
        direct.append(name)
  assert not direct, f"figures saved without render.save_figure: {direct}"
