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
  """One edge. With `weights` [K] it is the mixed op sum_k w_k op_k(x); without, one op."""
  channels: int
  op_names: Tuple[str, ...]
  stride: int = 1

  @nn.compact
  def __call__(self, x, weights=None):
    if weights is None:
      assert len(self.op_names) == 1, "a fixed edge has exactly one op"
      return ops.OPS[self.op_names[0]](self.channels, self.stride, name=self.op_names[0])(x)
    out = 0.0
    for k, name in enumerate(self.op_names):
      if name == ops.ZERO:
        continue  # contributes w * 0; its alpha still gets gradient through the softmax
      out = out + weights[k] * ops.OPS[name](self.channels, self.stride, name=name)(x)
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

  partial_channels = P > 1 is PC-DARTS partial-channel mixing: each edge mixes only the first
  C/P channels of its input, the rest pass through unchanged (max-pooled when the edge strides),
  and the edge output is channel-shuffled so successive nodes mix different slices. A node then
  averages its edges: PC-DARTS's edge normalization with its edge weights fixed at their
  uniform start (not learned here). Summed instead, the pass-through parts, which no mixing
  weight scales, double the activations at every node (node i carries 2^i copies of the cell
  input): a PPO search's initial values reached 30 with gradient norms of 2e4 (exact DARTS: 0
  and 1; experiments/results/pc_darts_ppo_cpu).
  """
  op_names: Tuple[str, ...] = ops.OP_SETS["base"]
  temperature: float = 1.0
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x, alphas: Sequence[jnp.ndarray]):
    """x [B, H, W, C_in], alphas (node_i [1 + i, K]) -> [B, H', W', channels]."""
    if len(alphas) != self.num_nodes:
      raise ValueError(f"cell has {self.num_nodes} nodes but alphas have {len(alphas)}")

    p = self.partial_channels
    c = self.channels // p

    def edge_fn(i, states):
      w = alphas_lib.mixing_weights(alphas[i], self.temperature)  # [1 + i, K]
      if p == 1:
        return sum(Edge(self.channels, self.op_names, self._stride(j), name=f"node{i}_in{j}")(
            states[j], w[j]) for j in range(i + 1))
      # PC-DARTS: edge j mixes only the first C/P channels of its input and passes the rest
      # through (max-pooled when it strides), then channel-shuffles its output. The shuffle
      # is a fixed permutation, so the sum over edges of shuffled outputs is the shuffle of
      # the summed mixed parts next to the summed pass-through parts: one concat and one
      # shuffle per node instead of one per edge (the per-edge form was memory bound on CPU).
      mixed = sum(Edge(c, self.op_names, self._stride(j), name=f"node{i}_in{j}")(
          states[j][..., :c], w[j]) for j in range(i + 1))
      rest = sum(_pass_through(states[j][..., c:], self._stride(j)) for j in range(i + 1))
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
