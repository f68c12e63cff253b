"""How alike two searches' outcomes are, edge by edge (e.g. PC-DARTS against exact DARTS).

A search's outcome is its final mixing weights (alphas.npz, the last snapshot) and the
genotype discretized from them. Two searches of the same space compare as:
  op_agreement     the fraction of edges whose best op (argmax of the mixing weights without
                   Zero, the discretization rule of darts_rl/search/genotype.py) is the same;
                   chance is about 1 / (number of ops other than Zero)
  weight_spearman  Spearman rank correlation of the mixing weights over every (edge, op)
                   (ties averaged): do the two searches move the same weights the same way?
  kept_jaccard     |A & B| / |A | B| of the genotypes' kept (cell type, node, op, input) edges
                   (micro genotypes; None when either search has no micro genotype.json)
and each search on its own as `moved`: the largest |w - 1/K| over its edges, how far it got
from the uniform start (agreement between searches that barely moved says little).

Reads files only, through darts_rl.artifacts (alphas.npz names its ops and temperature).
"""

import itertools
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from darts_rl import artifacts
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search.genotype import Genotype


def zero_masked(w: np.ndarray, op_names: Sequence[str]) -> np.ndarray:
  """A float64 copy of w [..., K] with Zero's column at -inf: discretization never keeps Zero
  (unless it is the only op)."""
  w = np.array(w, np.float64)
  if ops.ZERO in op_names and len(op_names) > 1:
    w[..., list(op_names).index(ops.ZERO)] = -np.inf
  return w


def _settled_at(snaps: artifacts.AlphaSnapshots) -> int:
  """The env steps of the first snapshot from which every edge's best op (Zero excluded)
  stays the final one."""
  logits = np.concatenate(
    [
      a.reshape(a.shape[0], -1, a.shape[-1])
      for k, a in snaps.leaves.items()
      if not alphas_lib.is_option_key(k)
    ],
    axis=1,
  )  # [S, edges, K]
  best = np.argmax(zero_masked(logits, snaps.op_names), axis=-1)  # [S, edges]
  differs = np.flatnonzero(np.any(best != best[-1], axis=-1))
  return int(snaps.env_steps[differs[-1] + 1 if differs.size else 0])


class SearchOutcome:
  """One finished search: its final mixing weights per alphas leaf, its kept edges, and (when
  loaded from a workdir) the env steps from which its best ops stopped changing."""

  def __init__(
    self,
    name: str,
    op_names: Sequence[str],
    weights: Dict[str, np.ndarray],
    kept: Optional[frozenset] = None,
    settled: Optional[int] = None,
  ):
    self.name, self.op_names, self.weights, self.kept = name, tuple(op_names), weights, kept
    self.settled = settled

  @classmethod
  def load(cls, workdir: str, name: Optional[str] = None) -> "SearchOutcome":
    """From WORKDIR/alphas.npz (last snapshot) and WORKDIR/genotype.json when present."""
    snaps = artifacts.read_alphas(workdir)
    if not snaps.op_names:
      raise artifacts.ArtifactError(
        f"{workdir}: its alphas name no op set (a macro search?); "
        "cells are compared edge by edge for micro searches"
      )
    weights = {
      k: np.asarray(alphas_lib.mixing_weights(a[-1], snaps.temperature), np.float64)
      for k, a in snaps.leaves.items()  # the writer's order: cell, node
      if not alphas_lib.is_option_key(k)
    }  # edge logits, scheduled values
    kept = None
    path = artifacts.genotype_path(workdir)
    g = artifacts.load_genotype(path) if os.path.exists(path) else None
    if isinstance(g, Genotype):  # micro genotypes only
      kept = frozenset(
        (ct, i, op, j) for ct, cell in g.cells for i, edges in enumerate(cell) for op, j in edges
      )
    name = name or os.path.basename(os.path.normpath(workdir))
    return cls(name, snaps.op_names, weights, kept, _settled_at(snaps))

  def edge_weights(self) -> np.ndarray:
    """[E, K]: every edge's mixing weights, leaf by leaf (as stored), row by row."""
    return np.concatenate([w.reshape(-1, w.shape[-1]) for w in self.weights.values()])

  def best_ops(self) -> np.ndarray:
    """[E]: each edge's best op index, Zero excluded (as discretization picks it)."""
    return np.argmax(zero_masked(self.edge_weights(), self.op_names), axis=-1)

  def moved(self) -> float:
    w = self.edge_weights()
    return float(np.max(np.abs(w - 1.0 / w.shape[-1])))

  def margin(self) -> float:
    """The median over edges of the best op's weight minus the runner-up's (Zero excluded):
    how far from a tie discretization's choice is. Near 0, the kept ops are decided by noise."""
    top2 = np.sort(zero_masked(self.edge_weights(), self.op_names), axis=-1)[:, -2:]
    if top2.shape[-1] < 2 or not np.all(np.isfinite(top2)):  # fewer than two ops to rank
      return float("nan")
    return float(np.median(top2[:, 1] - top2[:, 0]))


def _ranks(x: np.ndarray) -> np.ndarray:
  """Ranks 0..n-1 of x, ties given their average rank."""
  order = np.argsort(x, kind="stable")
  ranks = np.empty(len(x), np.float64)
  ranks[order] = np.arange(len(x), dtype=np.float64)
  for v in np.unique(x):
    tie = x == v
    if tie.sum() > 1:
      ranks[tie] = ranks[tie].mean()
  return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  """Spearman rank correlation of two equal-length vectors (nan when either is constant)."""
  ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
  ra, rb = ra - ra.mean(), rb - rb.mean()
  denom = np.sqrt((ra**2).sum() * (rb**2).sum())
  return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def check_same_space(a: SearchOutcome, b: SearchOutcome):
  if a.op_names != b.op_names:
    raise ValueError(
      f"searches '{a.name}' and '{b.name}' have different op sets: "
      f"{list(a.op_names)} vs {list(b.op_names)}"
    )
  shapes = lambda s: [(k, w.shape) for k, w in s.weights.items()]
  if shapes(a) != shapes(b):
    raise ValueError(
      f"searches '{a.name}' and '{b.name}' have different alphas "
      f"(cells, nodes or edges): {shapes(a)} vs {shapes(b)}"
    )


def compare(a: SearchOutcome, b: SearchOutcome) -> Dict[str, Optional[float]]:
  """{'edges', 'op_agreement', 'weight_spearman', 'kept_jaccard'} of two same-space searches."""
  check_same_space(a, b)
  best_a, best_b = a.best_ops(), b.best_ops()
  jaccard = None
  if a.kept is not None and b.kept is not None and (a.kept | b.kept):
    jaccard = len(a.kept & b.kept) / len(a.kept | b.kept)
  return {
    "edges": int(len(best_a)),
    "op_agreement": float(np.mean(best_a == best_b)),
    "weight_spearman": spearman(a.edge_weights(), b.edge_weights()),
    "kept_jaccard": jaccard,
  }


def table(outcomes: List[SearchOutcome]) -> str:
  """Markdown: each search's movement and best-op counts, then every pair's similarity."""
  if len(outcomes) < 2:
    raise ValueError("comparing searches needs at least two workdirs")
  names = [o.name for o in outcomes]
  if len(set(names)) != len(names):
    raise ValueError(f"search names must differ, got {names}")
  for o in outcomes[1:]:
    check_same_space(outcomes[0], o)
  op_names = outcomes[0].op_names
  lines = [
    "| search | edges | largest move from uniform | best op per edge (Zero excluded) |",
    "|---|---|---|---|",
  ]
  for o in outcomes:
    counts = np.bincount(o.best_ops(), minlength=len(op_names))
    best = ", ".join(f"{op_names[k]} {c}" for k, c in enumerate(counts) if c)
    lines.append(f"| {o.name} | {len(o.best_ops())} | {o.moved():.3f} | {best} |")
  others = len([op for op in op_names if op != ops.ZERO]) or 1
  lines += [
    "",
    f"| pair | same best op (chance ~{1 / others:.2f}) | Spearman of weights | kept-edge Jaccard |",
    "|---|---|---|---|",
  ]
  for a, b in itertools.combinations(outcomes, 2):
    s = compare(a, b)
    jac = "-" if s["kept_jaccard"] is None else f"{s['kept_jaccard']:.2f}"
    lines.append(
      f"| {a.name} vs {b.name} | {s['op_agreement']:.2f} | {s['weight_spearman']:.2f} | {jac} |"
    )
  return "\n".join(lines) + "\n"
