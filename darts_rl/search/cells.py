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

  `aux_skip` (a scalar, DARTS-) adds aux_skip * skip(x) to the mixed op: an auxiliary skip
  connection outside the competition of the ops (average-pooled when the edge strides, as the
  parameter-free ops are)."""
  channels: int
  op_names: Tuple[str, ...]
  stride: int = 1

  @nn.compact
  def __call__(self, x, weights=None, aux_skip=None):
    if weights is None:
      assert len(self.op_names) == 1, "a fixed edge has exactly one op"
      return ops.OPS[self.op_names[0]](self.channels, self.stride, name=self.op_names[0])(x)
    out = 0.0
    for k, name in enumerate(self.op_names):
      if name == ops.ZERO:
        continue  # contributes w * 0; its alpha still gets gradient through the softmax
      out = out + weights[k] * ops.OPS[name](self.channels, self.stride, name=name)(x)
    if aux_skip is not None:
      out = out + aux_skip * ops.OPS["SkipConnection"](self.channels, self.stride,
                                                       name="aux_skip")(x)
    if isinstance(out, float):  # only Zero in the set
      out = jnp.zeros_like(x[:, ::self.stride, ::self.stride, :])
    return out


def channel_shuffle(y, groups: int):
  """[..., C] -> [..., C] with channel g * (C / groups) + r moved to r * groups + g (PC-DARTS)."""
  *lead, ch = y.shape
  return y.reshape(*lead, groups, ch // groups).swapaxes(-1, -2).reshape(*lead, ch)


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


def _pass_through(x, stride):
  return max_pool(x, 3, stride) if stride > 1 else x


class SearchCell(_Cell):
  """Supernet cell: every node mixes an edge from every earlier state.

  The alphas are a sequence of node arrays (node_i [1 + i, K]) or an alphas.CellAlphas, whose
  option entries, when present, replace the defaults: a scheduled temperature replaces
  `temperature`; learned edge weights (PC-DARTS edge normalization) scale node i's edges by
  (i + 1) softmax(edges_i) instead of 1 (equal at zero logits); aux_skip adds DARTS-'s
  auxiliary skip to every edge.

  partial_channels = P > 1 is PC-DARTS partial-channel mixing: each edge mixes only the first
  C/P channels of its input, the rest pass through unchanged (max-pooled when the edge strides),
  and the edge output is channel-shuffled so successive nodes mix different slices. A node then
  takes the mean of its edges (PC-DARTS's edge normalization at its uniform start; with learned
  edge weights, their softmax). Summed instead, the pass-through parts, which no mixing
  weight scales, double the activations at every node (node i carries 2^i copies of the cell
  input): a PPO search's initial values reached 30 with gradient norms of 2e4 (exact DARTS: 0
  and 1; experiments/results/pc_darts_ppo_cpu).
  """
  op_names: Tuple[str, ...] = ops.OP_SETS["base"]
  temperature: float = 1.0
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x, alphas):
    """x [B, H, W, C_in], alphas (node_i [1 + i, K]) or CellAlphas -> [B, H', W', channels]."""
    if not isinstance(alphas, alphas_lib.CellAlphas):
      alphas = alphas_lib.CellAlphas(tuple(alphas))
    if len(alphas.ops) != self.num_nodes:
      raise ValueError(f"cell has {self.num_nodes} nodes but alphas have {len(alphas.ops)}")
    t = self.temperature if alphas.temperature is None else alphas.temperature
    p = self.partial_channels
    c = self.channels // p

    def edge_fn(i, states):
      w = alphas_lib.mixing_weights(alphas.ops[i], t)  # [1 + i, K]
      s = None if alphas.edges is None else alphas_lib.edge_weights(alphas.edges[i])  # [1 + i]
      scaled = lambda j, y: y if s is None else s[j] * y
      edge = lambda j, ch: Edge(ch, self.op_names, self._stride(j), name=f"node{i}_in{j}")
      if p == 1:
        return sum(scaled(j, edge(j, self.channels)(states[j], w[j], alphas.aux_skip))
                   for j in range(i + 1))
      # PC-DARTS: edge j mixes only the first C/P channels of its input and passes the rest
      # through (max-pooled when it strides), then channel-shuffles its output. The shuffle
      # is a fixed permutation, so the sum over edges of shuffled outputs is the shuffle of
      # the summed mixed parts next to the summed pass-through parts: one concat and one
      # shuffle per node instead of one per edge (the per-edge form was memory bound on CPU).
      mixed = sum(scaled(j, edge(j, c)(states[j][..., :c], w[j], alphas.aux_skip))
                  for j in range(i + 1))
      rest = sum(scaled(j, _pass_through(states[j][..., c:], self._stride(j)))
                 for j in range(i + 1))
      return channel_shuffle(jnp.concatenate([mixed, rest], axis=-1), p) / (i + 1)

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
