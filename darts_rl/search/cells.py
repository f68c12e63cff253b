"""DARTS cells: SearchCell (mixed edges, alphas passed in) and FixedCell (from a genotype).

Both share `Edge`, so a FixedCell's parameters are a subset of a SearchCell's with the same
names: `node{i}_in{j}/{OpName}/...`, plus `preprocess` (1x1 conv, only when the input channel
count differs) and `output` (1x1 conv over the concatenated nodes).
"""
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from darts_rl.pooling import max_pool
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops


class Edge(nn.Module):
  """One edge. With `weights` [K] it is the mixed op sum_k w_k op_k(x); without, one op.

  partial_channels = P > 1 is PC-DARTS partial-channel mixing: only the first C/P channels go
  through the mixture, the rest pass through unchanged (pooled when the edge strides).
  """
  channels: int
  op_names: Tuple[str, ...]
  stride: int = 1
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x, weights=None):
    if weights is None:
      assert len(self.op_names) == 1, "a fixed edge has exactly one op"
      return ops.OPS[self.op_names[0]](self.channels, self.stride, name=self.op_names[0])(x)
    p = self.partial_channels
    c = self.channels // p
    xs, rest = (x[..., :c], x[..., c:]) if p > 1 else (x, None)
    out = 0.0
    for k, name in enumerate(self.op_names):
      if name == ops.ZERO:
        continue  # contributes w * 0; its alpha still gets gradient through the softmax
      out = out + weights[k] * ops.OPS[name](c, self.stride, name=name)(xs)
    if isinstance(out, float):  # only Zero in the set
      out = jnp.zeros_like(xs[:, ::self.stride, ::self.stride, :])
    if rest is None:
      return out
    if self.stride > 1:
      rest = max_pool(rest, 3, self.stride)
    # Channel shuffle so successive edges mix different slices (PC-DARTS).
    y = jnp.concatenate([out, rest], axis=-1)
    b, h, w, ch = y.shape
    return y.reshape(b, h, w, p, ch // p).swapaxes(-1, -2).reshape(b, h, w, ch)


class _Cell(nn.Module):
  """Shared cell body: preprocess, nodes summing edges, concat + 1x1 output conv."""
  channels: int
  num_nodes: int = 4
  reduction: bool = False
  node_norm: bool = False

  def _body(self, x, edge_fn):
    if x.shape[-1] != self.channels:
      x = nn.Conv(self.channels, (1, 1), name="preprocess")(x)
    states = [x]
    for i in range(self.num_nodes):
      s = edge_fn(i, states)
      if self.node_norm:
        s = nn.LayerNorm(name=f"node{i}_norm")(s)
      states.append(s)
    return nn.Conv(self.channels, (1, 1), name="output")(jnp.concatenate(states[1:], axis=-1))

  def _stride(self, j):
    return 2 if self.reduction and j == 0 else 1


class SearchCell(_Cell):
  """Supernet cell: every node mixes an edge from every earlier state."""
  op_names: Tuple[str, ...] = ops.OP_SETS["base"]
  temperature: float = 1.0
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x, alphas: Sequence[jnp.ndarray]):
    """x [B, H, W, C_in], alphas (node_i [1 + i, K]) -> [B, H', W', channels]."""
    if len(alphas) != self.num_nodes:
      raise ValueError(f"cell has {self.num_nodes} nodes but alphas have {len(alphas)}")

    def edge_fn(i, states):
      w = alphas_lib.mixing_weights(alphas[i], self.temperature)  # [1 + i, K]
      return sum(Edge(self.channels, self.op_names, self._stride(j), self.partial_channels,
                      name=f"node{i}_in{j}")(states[j], w[j]) for j in range(i + 1))

    return self._body(x, edge_fn)


class FixedCell(_Cell):
  """Discrete cell from a genotype cell: node i sums its kept edges."""
  cell: Tuple = ()

  @nn.compact
  def __call__(self, x, alphas: Optional[Sequence] = None):
    """x [B, H, W, C_in] -> [B, H', W', channels]; alphas are ignored."""
    del alphas

    def edge_fn(i, states):
      return sum(Edge(self.channels, (op,), self._stride(j), name=f"node{i}_in{j}")(states[j])
                 for op, j in self.cell[i])

    return self._body(x, edge_fn)
