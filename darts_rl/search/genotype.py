"""Genotype: a discrete cell architecture per cell type, immutable, stored as JSON.

A cell has one input (index 0) and `num_nodes` intermediate nodes; node i reads from inputs
0..i where input j >= 1 is node j - 1. Each node keeps a few incoming edges, each one op:

    {"format": "darts_rl.genotype/1",
     "op_set": ["Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero"],
     "num_nodes": 4,
     "space": {"skeleton": "impala", "channels": [16, 32, 32], "cells_per_stage": 2, ...},
     "cells": {"normal": [[["Conv3x3", 0]], [["Relu", 0], ["Tanh", 1]], ...]}}

op_set, num_nodes and "space" are the shape of the space the genotype was drawn from
(MicroSpace.shape; darts_rl.search.shape), so its network can be rebuilt from the file alone.
"space" is absent from genotypes written before they recorded it. Genotypes are parsed and
validated, never eval-ed.

A micro genotype is made two ways: `discretize` (the search's alphas -> its strongest edges)
and `sample_genotype` (uniform, the random-search baseline).
"""

import dataclasses
import json
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search import shape as shape_lib

FORMAT = "darts_rl.genotype/1"
Edge = Tuple[str, int]  # (op name, input index)
Cell = Tuple[Tuple[Edge, ...], ...]  # per node, its edges


@dataclasses.dataclass(frozen=True)
class Genotype:
  op_set: Tuple[str, ...]
  num_nodes: int
  cells: Tuple[Tuple[str, Cell], ...]  # sorted (cell type, cell) pairs: hashable, immutable
  # The rest of its space's shape (skeleton, channels, ...: MicroSpace.shape without op_set and
  # num_nodes); () when not recorded.
  space: shape_lib.Frozen = ()

  def __post_init__(self):
    _validate(self)

  @classmethod
  def make(
    cls,
    op_set: Sequence[str],
    cells: Mapping[str, Sequence[Sequence[Sequence]]],
    num_nodes: Optional[int] = None,
    space: Optional[Mapping] = None,
  ) -> "Genotype":
    """Builds (and validates) a genotype from plain lists; `space` as in the JSON."""
    if not isinstance(cells, Mapping) or not cells:
      raise ValueError("genotype 'cells' must be a non-empty mapping cell type -> nodes")
    frozen = []
    for ct in sorted(cells):
      nodes = cells[ct]
      if not isinstance(nodes, (list, tuple)):
        raise ValueError(f"genotype cell '{ct}' must be a list of nodes")
      cell = []
      for i, edges in enumerate(nodes):
        if not isinstance(edges, (list, tuple)):
          raise ValueError(f"genotype cell '{ct}' node {i} must be a list of [op, input] edges")
        node = []
        for e in edges:
          if (
            not isinstance(e, (list, tuple))
            or len(e) != 2
            or not isinstance(e[0], str)
            or isinstance(e[1], bool)
            or not isinstance(e[1], int)
          ):
            raise ValueError(
              f"genotype cell '{ct}' node {i}: edge {e!r} is not [op name, input index]"
            )
          node.append((e[0], int(e[1])))
        cell.append(tuple(node))
      frozen.append((ct, tuple(cell)))
    n = len(frozen[0][1]) if num_nodes is None else num_nodes
    return cls(tuple(op_set), int(n), tuple(frozen), shape_lib.freeze(space))

  @property
  def cell_types(self) -> Tuple[str, ...]:
    return tuple(ct for ct, _ in self.cells)

  def cell(self, cell_type: str) -> Cell:
    for ct, c in self.cells:
      if ct == cell_type:
        return c
    raise KeyError(f"genotype has no '{cell_type}' cell (it has: {', '.join(self.cell_types)})")

  def shape(self) -> Dict:
    """The space shape this genotype records: op_set, num_nodes and its "space" fields."""
    return {"op_set": list(self.op_set), "num_nodes": self.num_nodes, **shape_lib.thaw(self.space)}

  def with_space(self, space: Mapping) -> "Genotype":
    """This genotype recording `space` (the shape fields besides op_set and num_nodes)."""
    return dataclasses.replace(self, space=shape_lib.freeze(space))

  def to_dict(self) -> Dict:
    d = {"format": FORMAT, "op_set": list(self.op_set), "num_nodes": self.num_nodes}
    if self.space:
      d["space"] = shape_lib.thaw(self.space)
    d["cells"] = {ct: [[[op, j] for op, j in node] for node in cell] for ct, cell in self.cells}
    return d

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=1)

  @classmethod
  def from_dict(cls, d) -> "Genotype":
    if not isinstance(d, Mapping):
      raise ValueError("genotype JSON must be an object")
    if d.get("format") != FORMAT:
      raise ValueError(f"genotype format is {d.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in ("op_set", "num_nodes", "cells") if k not in d]
    if missing:
      raise ValueError(f"genotype JSON lacks {', '.join(missing)}")
    if not isinstance(d["op_set"], list) or not isinstance(d["num_nodes"], int):
      raise ValueError("genotype 'op_set' must be a list and 'num_nodes' an integer")
    return cls.make(d["op_set"], d["cells"], d["num_nodes"], d.get("space"))

  @classmethod
  def from_json(cls, text: str) -> "Genotype":
    try:
      d = json.loads(text)
    except json.JSONDecodeError as e:
      raise ValueError(f"genotype is not valid JSON: {e}") from None
    return cls.from_dict(d)

  def check_fits(self, op_set: Sequence[str], cell_types: Sequence[str], num_nodes: int):
    """Raises ValueError unless this genotype fits a space (op set, cell types, nodes)."""
    extra = [op for op in self.op_set if op not in op_set]
    used = sorted({op for _, c in self.cells for node in c for op, _ in node})
    bad = [op for op in used if op not in op_set]
    if bad or extra:
      raise ValueError(
        f"genotype uses ops {bad or extra} outside the config's op set {list(op_set)}"
      )
    if self.num_nodes != num_nodes:
      raise ValueError(f"genotype has {self.num_nodes} nodes per cell, the config {num_nodes}")
    missing = [ct for ct in cell_types if ct not in self.cell_types]
    if missing:
      raise ValueError(
        f"genotype lacks cell types {missing} needed by the skeleton "
        f"(it has {list(self.cell_types)})"
      )

  def describe(self) -> str:
    """Readable text: the recorded space shape (if any) on one line, then one line per node,
    e.g. `node1 <- Relu(in) + Tanh(node0)`."""
    lines = [shape_lib.describe(self.shape())] if self.space else []
    for ct, cell in self.cells:
      lines.append(f"{ct} cell:")
      for i, node in enumerate(cell):
        terms = " + ".join(f"{op}({'in' if j == 0 else f'node{j - 1}'})" for op, j in node)
        lines.append(f"  node{i} <- {terms}")
      lines.append(f"  out = conv1x1(concat(node0..node{len(cell) - 1}))")
    return "\n".join(lines)


def _validate(g: Genotype):
  op_set = ops.resolve_op_set(g.op_set)  # unknown op names in the op set
  if g.num_nodes < 1:
    raise ValueError(f"genotype num_nodes must be >= 1, got {g.num_nodes}")
  if any(k in ("op_set", "num_nodes") for k, _ in g.space):
    raise ValueError("genotype 'space' must not repeat op_set or num_nodes (top-level keys)")
  for ct, cell in g.cells:
    if len(cell) != g.num_nodes:
      raise ValueError(f"genotype cell '{ct}' has {len(cell)} nodes, expected {g.num_nodes}")
    for i, node in enumerate(cell):
      if not node:
        raise ValueError(f"genotype cell '{ct}' node {i} has no incoming edge")
      inputs = [j for _, j in node]
      if len(set(inputs)) != len(inputs):
        raise ValueError(f"genotype cell '{ct}' node {i} reads input {inputs} twice")
      for op, j in node:
        if op not in ops.OPS:
          raise ValueError(
            f"genotype cell '{ct}' node {i}: unknown op '{op}'; valid ops: {', '.join(ops.OPS)}"
          )
        if op not in op_set:
          raise ValueError(
            f"genotype cell '{ct}' node {i}: op '{op}' is not in the op set {list(op_set)}"
          )
        if op == ops.ZERO:
          raise ValueError(f"genotype cell '{ct}' node {i}: Zero is not a valid kept edge")
        if not 0 <= j <= i:
          raise ValueError(f"genotype cell '{ct}' node {i}: input index {j} out of range 0..{i}")


# --- Making a micro genotype: from a search's alphas, or at random. ---


def discretize(
  alphas: alphas_lib.Alphas, op_names: Sequence[str], k: int = 2, temperature: float = 1.0
) -> Genotype:
  """alphas {cell_type: (node_i [1 + i, K])} (+ option entries) -> Genotype keeping k edges
  per node (docs/paper.md, "Discretization"; k = 2).

  probs = mixing_weights(alpha, T); the Zero column is set to 0; each edge's op is the argmax
  of the remaining ops and its strength that maximum, times the edge's weight when the alphas
  carry learned edge weights (PC-DARTS: op weight x edge weight); node i keeps its
  min(k, i + 1) strongest incoming edges. Ties go to the lower index (op order of the op set,
  lower input index). A scheduled temperature carried by the alphas replaces `temperature`."""
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}")
  op_names = tuple(op_names)
  temperature = float(alphas_lib.scheduled_temperature(alphas, temperature))
  edges = alphas.get(alphas_lib.EDGES)
  cells = {}
  num_nodes = None
  for ct, nodes in alphas_lib.op_alphas(alphas).items():
    num_nodes = len(nodes)
    cell = []
    for i, a in enumerate(nodes):
      p = np.array(alphas_lib.mixing_weights(a, temperature))  # [1 + i, K]
      if p.shape != (i + 1, len(op_names)):
        raise ValueError(
          f"alphas of '{ct}' node {i} have shape {p.shape}, expected {(i + 1, len(op_names))}"
        )
      if ops.ZERO in op_names:
        p[:, op_names.index(ops.ZERO)] = 0.0
      best_op = np.argmax(p, axis=-1)  # first max wins ties
      strength = p[np.arange(i + 1), best_op]
      if edges is not None:
        strength = strength * np.asarray(alphas_lib.edge_weights(edges[ct][i]))
      keep = sorted(np.argsort(-strength, kind="stable")[: min(k, i + 1)])
      cell.append([[op_names[best_op[j]], int(j)] for j in keep])
    cells[ct] = cell
  return Genotype.make(op_names, cells, num_nodes)


def sample_genotype(
  rng: np.random.Generator,
  op_names: Sequence[str],
  cell_types: Sequence[str],
  num_nodes: int = 4,
  k: int = 2,
) -> Genotype:
  """A uniform random genotype over a micro space (the random-search baseline): per node i,
  min(k, i + 1) distinct inputs drawn uniformly from 0..i, each with an op drawn uniformly from
  the op set minus Zero; the same space `discretize` produces."""
  op_names = tuple(op_names)
  choices = [op for op in op_names if op != ops.ZERO]
  cells = {}
  for ct in cell_types:
    cell = []
    for i in range(num_nodes):
      inputs = sorted(rng.choice(i + 1, size=min(k, i + 1), replace=False).tolist())
      cell.append([[choices[rng.integers(len(choices))], int(j)] for j in inputs])
    cells[ct] = cell
  return Genotype.make(op_names, cells, num_nodes)
