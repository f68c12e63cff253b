"""Architecture weights (alphas): a pytree separate from the network parameters.

Micro space: `{cell_type: (node0 [1, K], node1 [2, K], ..., node{n-1} [n, K])}`, one set per cell
type shared by every cell of that type, zero-initialized (uniform mixture).
`mixing_weights` is the one place that turns alphas into op weights; everything (supernet,
discretization, reports) calls it.
"""
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Alphas = Dict[str, Tuple[jnp.ndarray, ...]]


def init_alphas(cell_types: Sequence[str], num_nodes: int, num_ops: int) -> Alphas:
  """Zero alphas: node i of each cell type gets an array [1 + i, num_ops]."""
  return {ct: tuple(jnp.zeros((1 + i, num_ops), jnp.float32) for i in range(num_nodes))
          for ct in cell_types}


def mixing_weights(alpha, temperature: float = 1.0):
  """softmax(alpha / T) over the last axis (ops). [..., K] -> [..., K]."""
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  return jax.nn.softmax(jnp.asarray(alpha, jnp.float32) / temperature, axis=-1)


def edge_entropy(alphas: Alphas, temperature: float = 1.0) -> Dict[str, jnp.ndarray]:
  """Mean entropy (nats) of the per-edge mixing weights, per cell type."""
  out = {}
  for ct, nodes in alphas.items():
    w = jnp.concatenate([mixing_weights(a, temperature) for a in nodes], axis=0)
    out[ct] = -jnp.mean(jnp.sum(w * jnp.log(w + 1e-12), axis=-1))
  return out


def flat_mixing_weights(alphas: Alphas, op_names: Sequence[str],
                        temperature: float = 1.0) -> Dict[str, float]:
  """{'normal/n2_in1/Conv3x3': w, ...}: every per-edge op weight as a flat dict for logging."""
  out = {}
  for ct, nodes in alphas.items():
    for i, a in enumerate(nodes):
      w = np.asarray(mixing_weights(a, temperature))
      for j in range(w.shape[0]):
        for k, name in enumerate(op_names):
          out[f"{ct}/n{i}_in{j}/{name}"] = float(w[j, k])
  return out
