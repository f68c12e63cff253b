"""Uniform random genotypes over a micro space (the random-search baseline).

Per node i: min(k, i + 1) distinct inputs drawn uniformly from 0..i, each with an op drawn
uniformly from the op set minus Zero. Same space as `discretize` produces.
"""

from typing import Sequence

import numpy as np

from darts_rl.search import ops
from darts_rl.search.genotype import Genotype


def sample_genotype(
  rng: np.random.Generator,
  op_names: Sequence[str],
  cell_types: Sequence[str],
  num_nodes: int = 4,
  k: int = 2,
) -> Genotype:
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
