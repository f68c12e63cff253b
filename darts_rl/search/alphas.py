"""Architecture weights (alphas): a pytree separate from the network parameters.

Micro space: `{cell_type: (node0 [1, K], node1 [2, K], ..., node{n-1} [n, K])}`, one set per cell
type shared by every cell of that type, zero-initialized (uniform mixture).
`mixing_weights` is the one place that turns alphas into op weights; everything (supernet,
discretization, reports) calls it.
"""
import functools
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


@functools.partial(jax.jit, static_argnums=1)
def all_mixing_weights(alphas, temperature: float = 1.0):
  """mixing_weights on every leaf of an alphas pytree, in one compiled call."""
  return jax.tree.map(lambda a: mixing_weights(a, temperature), alphas)


def entropy(w, axis=-1):
  """Entropy in nats of weights w along `axis`."""
  w = np.asarray(w, np.float64)
  return -np.sum(w * np.log(w + 1e-12), axis=axis)


def mixing_summary(alphas: Alphas, op_names: Sequence[str],
                   temperature: float = 1.0) -> Dict[str, float]:
  """{'normal/n2_in1/Conv3x3': w, ..., 'normal/entropy': mean edge entropy} for logging."""
  out = {}
  weights = jax.device_get(all_mixing_weights(alphas, temperature))
  for ct, nodes in weights.items():
    for i, w in enumerate(nodes):
      for j in range(w.shape[0]):
        for k, name in enumerate(op_names):
          out[f"{ct}/n{i}_in{j}/{name}"] = float(w[j, k])
    out[f"{ct}/entropy"] = float(np.mean(np.concatenate([entropy(w) for w in nodes])))
  return out
