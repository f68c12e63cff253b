"""Comparing searches' outcomes: rank correlation, best ops without Zero, kept-edge overlap."""

import numpy as np
import pytest

from darts_rl import artifacts
from darts_rl.analysis import similarity
from darts_rl.search import alphas as alphas_lib
from darts_rl.search.genotype import discretize

OPS = ("Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero")


def outcome(name, logits, kept=None):
  return similarity.SearchOutcome(
    name,
    OPS,
    {
      "normal/node0": np.asarray(
        alphas_lib.mixing_weights(np.asarray(logits, np.float32)), np.float64
      )
    },
    kept,
  )


def test_spearman_by_hand():
  # ranks of a: 0, 1, 2, 3; of b (tie at 2, 2 -> 1.5, 1.5): 0, 1.5, 1.5, 3.
  a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.0, 5.0])
  ra, rb = np.array([0, 1, 2, 3]) - 1.5, np.array([0, 1.5, 1.5, 3]) - 1.5
  want = (ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum())
  assert similarity.spearman(a, b) == pytest.approx(want)
  assert similarity.spearman(a, -a) == pytest.approx(-1.0)
  assert np.isnan(similarity.spearman(a, np.ones(4)))


def test_best_op_skips_zero_and_pairs_compare():
  # Edge 0: Zero is largest, then Tanh; edge 1: Conv3x3.
  a = outcome("a", [[0, 0, 1, 0, 3], [2, 0, 0, 0, 0]], kept=frozenset({("normal", 0, "Tanh", 0)}))
  b = outcome("b", [[0, 0, 2, 0, 0], [0, 1, 0, 0, 0]], kept=frozenset({("normal", 0, "Relu", 0)}))
  assert list(a.best_ops()) == [2, 0] and list(b.best_ops()) == [2, 1]
  s = similarity.compare(a, b)
  assert s["edges"] == 2 and s["op_agreement"] == 0.5 and s["kept_jaccard"] == 0.0
  assert similarity.compare(a, a)["weight_spearman"] == pytest.approx(1.0)
  assert similarity.compare(a, outcome("c", np.zeros((2, 5))))["kept_jaccard"] is None
  assert a.moved() == pytest.approx(np.max(np.abs(a.edge_weights() - 0.2)))
  md = similarity.table([a, b])
  assert "| a | 2 | " in md and "| Conv3x3 1, Tanh 1 |" in md and "| a vs b | 0.50 |" in md


def test_different_spaces_and_too_few_are_refused():
  a = outcome("a", np.zeros((2, 5)))
  with pytest.raises(ValueError, match="different alphas"):
    similarity.compare(a, outcome("b", np.zeros((3, 5))))
  other = similarity.SearchOutcome("c", OPS[:4], {"normal/node0": np.full((2, 4), 0.25)})
  with pytest.raises(ValueError, match="different op sets"):
    similarity.compare(a, other)
  with pytest.raises(ValueError, match="at least two"):
    similarity.table([a])
  with pytest.raises(ValueError, match="names must differ"):
    similarity.table([a, a])


def test_load_matches_discretization(tmp_path):
  """alphas.npz as a search writes it (temperature 2) and its genotype.json, read back."""
  rng = np.random.default_rng(0)
  alphas = {
    "normal": tuple(rng.normal(size=(1 + i, len(OPS))).astype(np.float32) for i in range(3))
  }
  hist = artifacts.AlphasWriter(str(tmp_path), OPS, 2.0, None)
  hist.add(10, alphas_lib.init_alphas(["normal"], 3, len(OPS)))
  hist.add(20, alphas)
  g = discretize(alphas, OPS, k=2, temperature=2.0)
  (tmp_path / "genotype.json").write_text(g.to_json())
  o = similarity.SearchOutcome.load(str(tmp_path))
  assert o.name == tmp_path.name and o.op_names == OPS
  w = np.concatenate([np.asarray(alphas_lib.mixing_weights(a, 2.0)) for a in alphas["normal"]])
  np.testing.assert_allclose(o.edge_weights(), w, rtol=1e-5)
  kept = {("normal", i, op, j) for i, node in enumerate(g.cell("normal")) for op, j in node}
  assert o.kept == kept
  # Each kept edge's op is that edge's best op (rows: node 0 input 0, node 1 inputs 0-1, ...).
  row = {(i, j): r for r, (i, j) in enumerate((i, j) for i in range(3) for j in range(i + 1))}
  assert all(OPS[o.best_ops()[row[i, j]]] == op for _, i, op, j in kept)
  with pytest.raises(artifacts.ArtifactError, match="no alphas.npz"):
    similarity.SearchOutcome.load(str(tmp_path / "missing"))
