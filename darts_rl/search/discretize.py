"""alphas -> Genotype (docs/paper.md, "Discretization"; k = 2).

probs = mixing_weights(alpha, T); the Zero column is set to 0; each edge's op is the argmax of
the remaining ops and its strength that maximum, times the edge's weight when the alphas carry
learned edge weights (PC-DARTS: op weight x edge weight); node i keeps its min(k, i + 1)
strongest incoming edges. Ties go to the lower index (op order of the op set, lower input
index). A scheduled temperature carried by the alphas replaces `temperature`.
"""

from typing import Sequence

import numpy as np

from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search.genotype import Genotype


def discretize(
  alphas: alphas_lib.Alphas, op_names: Sequence[str], k: int = 2, temperature: float = 1.0
) -> Genotype:
  """alphas {cell_type: (node_i [1 + i, K])} (+ option entries) -> Genotype keeping k edges
  per node."""
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
