"""DARTS cells: SearchCell (mixed edges, alphas passed in) and FixedCell (from a genotype).

Both share `Edge`'s names, so a FixedCell's parameters are a subset of a SearchCell's with the
same names: `node{i}_in{j}/{OpName}/...`, plus `preprocess` (1x1 conv, only when the input
channel count differs) and `output` (1x1 conv over the concatenated nodes).

The SearchCell runs its edges fused by default (`fused_edges`): every edge leaving a state
applies each op to that same state (same input, same stride), so one state's edges run
together as one wider convolution per conv geometry (`fan_out`) instead of one convolution
per edge and op, with each conv op's mixing weight folded into its kernel; the parameters stay
per edge, under the same names. A FixedCell runs its kept conv edges the same way.
"""

import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import flax.linen as nn
import jax
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
  dtype: Any = jnp.float32  # the convolutions' compute dtype (params stay float32)

  @nn.compact
  def __call__(self, x, weights=None, aux_skip=None):
    op = lambda name: ops.OPS[name](self.channels, self.stride, self.dtype, name=name)
    if weights is None:
      assert len(self.op_names) == 1, "a fixed edge has exactly one op"
      return op(self.op_names[0])(x)
    out = 0.0
    for k, name in enumerate(self.op_names):
      if name == ops.ZERO:
        continue  # contributes w * 0; its alpha still gets gradient through the softmax
      out = out + weights[k] * op(name)(x)
    if aux_skip is not None:
      out = out + aux_skip * ops.OPS["SkipConnection"](self.channels, self.stride, name="aux_skip")(
        x
      )
    if isinstance(out, float):  # only Zero in the set
      out = jnp.zeros_like(x[:, :: self.stride, :: self.stride, :])
    return out


class EdgeParams(nn.Module):
  """A mixed edge's convolution parameters, created under Edge's names ({Op}/conv/kernel|bias,
  the same values from the same key) but not applied: the fused SearchCell applies them
  together with the other edges leaving the same state."""

  channels: int
  op_names: Tuple[str, ...]

  @nn.compact
  def __call__(self, in_channels: int) -> Dict[str, Tuple]:
    """-> {conv op name: (kernel [k, k, in_channels, channels], bias [channels])}."""
    return {
      name: ops.OPS[name](self.channels, 1, name=name).kernel_and_bias(in_channels)
      for name in self.op_names
      if name in ops.CONV_SPECS
    }


def fan_out(
  x,
  edge_params: Sequence[Dict],
  edge_ops: Sequence[Sequence[str]],
  stride: int,
  dtype: Any = jnp.float32,
) -> List[Dict]:
  """The op outputs of E edges leaving one state, computed together.

  x [B, H, W, C_in]; edge_params: per edge, {conv op: (kernel [k, k, C_in, C], bias [C])};
  edge_ops: per edge, the ops it applies (a supernet edge: the whole op set; a fixed edge: its
  one op) -> per edge, {op name: [B, H / stride, W / stride, C]}. The edges' convolutions of
  one geometry (kernel size, dilation) run as ONE convolution, their kernels concatenated on
  the output-channel axis, and the output is split back per edge and op (then ReLU where the
  op has one); each parameter-free op runs once, its output shared by the edges applying it.
  """
  outs = [{} for _ in edge_ops]
  geometries = {}  # (kernel, dilation) -> [(edge, conv op)], edge-major
  shared = {}  # parameter-free op -> its output
  for e, names in enumerate(edge_ops):
    for name in names:
      spec = ops.CONV_SPECS.get(name)
      if spec is not None:
        geometries.setdefault((spec.kernel, spec.dilation), []).append((e, name))
        continue
      if name not in shared:
        shared[name] = ops.apply_parameter_free(name, x, stride)
      outs[e][name] = shared[name]
  for (_, dilation), parts in geometries.items():
    kernel = jnp.concatenate([edge_params[e][name][0] for e, name in parts], axis=-1)
    bias = jnp.concatenate([edge_params[e][name][1] for e, name in parts])
    ys = jnp.split(ops.same_conv(x, kernel, bias, stride, dilation, dtype), len(parts), axis=-1)
    for (e, name), y in zip(parts, ys):
      outs[e][name] = nn.relu(y) if ops.CONV_SPECS[name].relu else y
  return outs


def drop_path(y, key, prob):
  """ScheduledDropPath (DARTS's `drop_path`, RobustDARTS's search cells): each sample's y
  [B, ...] zeroed with probability `prob`, the kept ones scaled by 1 / (1 - prob)."""
  keep = 1.0 - prob
  mask = jax.random.bernoulli(key, keep, (y.shape[0],) + (1,) * (y.ndim - 1))
  return jnp.where(mask, y / keep, 0.0).astype(y.dtype)


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
  dtype: Any = jnp.float32  # the convolutions' compute dtype (params stay float32)

  def _body(self, x, edge_fn):
    if x.shape[-1] != self.channels:
      x = nn.Conv(self.channels, (1, 1), dtype=self.dtype, name="preprocess")(x)
    states = [x]
    for i in range(self.num_nodes):
      s = edge_fn(i, states)
      if self.node_norm:
        s = nn.LayerNorm(name=f"node{i}_norm")(s)
      states.append(s)
    return nn.Conv(self.channels, (1, 1), dtype=self.dtype, name="output")(
      jnp.concatenate(states[1:], axis=-1)
    )

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
  auxiliary skip to every edge; drop_path / drop_key (ScheduledDropPath, weight steps only)
  drop each edge's output per sample (`drop_path`).

  partial_channels = P > 1 is PC-DARTS partial-channel mixing: each edge mixes only the first
  C/P channels of its input, the rest pass through unchanged (max-pooled when the edge strides),
  and the edge output is channel-shuffled so successive nodes mix different slices. A node then
  takes the mean of its edges (PC-DARTS's edge normalization at its uniform start; with learned
  edge weights, their softmax). Summed instead, the pass-through parts, which no mixing
  weight scales, double the activations at every node (node i carries 2^i copies of the cell
  input): a PPO search's initial values reached 30 with gradient norms of 2e4 (exact DARTS: 0
  and 1; experiments/results/pc_darts_ppo_cpu).

  fused_edges runs the edges leaving each state together (`fan_out`, `_fused_edges`); False
  runs every edge on its own (`Edge`, the original form). Same parameters, same numbers up to
  float rounding.
  Mixing weights are float32 whatever `dtype` the convolutions compute in.
  """

  op_names: Tuple[str, ...] = ops.OP_SETS["base"]
  temperature: float = 1.0
  partial_channels: int = 1
  fused_edges: bool = True

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
    # What an edge mixes: its input state, or with PC-DARTS the first C/P channels of it.
    mixed_input = lambda state: state if p == 1 else state[..., :c]
    weights = [alphas_lib.mixing_weights(a, t) for a in alphas.ops]  # node i: [1 + i, K]
    edges = self._fused_edges(c, weights, alphas.aux_skip) if self.fused_edges else None

    drop_key = alphas.drop_key
    if drop_key is not None:  # a different mask per cell (cells of a type share their alphas)
      drop_key = jax.random.fold_in(drop_key, zlib.crc32((self.name or "").encode()) & 0x7FFFFFFF)

    def edge_fn(i, states):
      w = weights[i]
      s = None if alphas.edges is None else alphas_lib.edge_weights(alphas.edges[i])  # [1 + i]

      def scaled(j, y):
        y = y if s is None else s[j] * y
        if drop_key is None:
          return y
        return drop_path(
          y, jax.random.fold_in(drop_key, i * (self.num_nodes + 1) + j), alphas.drop_path
        )

      if edges is None:
        outs = [
          Edge(c, self.op_names, self._stride(j), self.dtype, name=f"node{i}_in{j}")(
            mixed_input(states[j]), w[j], alphas.aux_skip
          )
          for j in range(i + 1)
        ]
      else:
        outs = edges(i, mixed_input(states[i]))
      if p == 1:
        return sum(scaled(j, outs[j]) for j in range(i + 1))
      # PC-DARTS: edge j mixes only the first C/P channels of its input and passes the rest
      # through (max-pooled when it strides), then channel-shuffles its output. The shuffle
      # is a fixed permutation, so the sum over edges of shuffled outputs is the shuffle of
      # the summed mixed parts next to the summed pass-through parts: one concat and one
      # shuffle per node instead of one per edge (the per-edge form was memory bound on CPU).
      mixed = sum(scaled(j, outs[j]) for j in range(i + 1))
      rest = sum(
        scaled(j, _pass_through(states[j][..., c:], self._stride(j))) for j in range(i + 1)
      )
      return channel_shuffle(jnp.concatenate([mixed, rest], axis=-1), p) / (i + 1)

    return self._body(x, edge_fn)

  def _fused_edges(self, channels: int, weights, aux_skip):
    """-> edges(i, x_i): node i's mixed edge outputs [j = 0..i], each [B, H', W', channels],
    given x_i, the (mixed part of the) state i that became available last; called for
    i = 0, 1, ... in order. Each call runs all edges leaving state i (to nodes i..n-1) at once
    and keeps their outputs for the later nodes. weights: node k's mixing weights [1 + k, K].

    A conv op's mixing weight w is folded into its kernel and bias: w (K x + b) = (w K) x + w b,
    and relu(w z) = w relu(z) since softmax weights are >= 0. The weights' gradients then come
    from kernel-sized products instead of one activation-sized product per edge and conv op
    (the base op set's step 1.2-1.4x faster again on CPU; benchmarks/ARCHIVE.md)."""
    n = self.num_nodes
    column = {name: k for k, name in enumerate(self.op_names)}
    params = {}  # (k, j) -> edge (k, j)'s EdgeParams
    fanned, skips = [], []  # per state j: its edges' op outputs (to nodes j..n-1), its skip

    def weighted_params(k, j):
      w = weights[k][j]
      return {
        name: (w[column[name]] * kernel, w[column[name]] * bias)
        for name, (kernel, bias) in params[k, j].items()
      }

    def mix(w, ys, skip, like):
      # Conv outputs come weighted already (weighted_params); parameter-free ones do not.
      out = sum(
        ys[name] if name in ops.CONV_SPECS else w[k] * ys[name]
        for k, name in enumerate(self.op_names)
        if name != ops.ZERO
      )
      if aux_skip is not None:
        out = out + aux_skip * skip
      if isinstance(out, int):  # only Zero in the set
        out = jnp.zeros_like(like)
      return out

    def edges(i, x_i):
      if not params:
        # Every edge mixes `channels` input channels (the states have the cell's width), so
        # all edges' parameters are created at the first node, in the per-edge form's order.
        params.update(
          {
            (k, j): EdgeParams(channels, self.op_names, name=f"node{k}_in{j}")(channels)
            for k in range(n)
            for j in range(k + 1)
          }
        )
      stride = self._stride(i)
      edge_params = [weighted_params(k, i) for k in range(i, n)]
      fanned.append(
        fan_out(x_i, edge_params, [self.op_names] * len(edge_params), stride, self.dtype)
      )
      skips.append(
        None if aux_skip is None else ops.apply_parameter_free("SkipConnection", x_i, stride)
      )
      like = x_i[:, ::stride, ::stride, :]  # an edge's output shape (for a Zero-only set)
      return [mix(weights[i][j], fanned[j][i - j], skips[j], like) for j in range(i + 1)]

    return edges


class FixedCell(_Cell):
  """Discrete cell from a genotype cell: node i sums its kept edges.

  fused_edges runs the convolution edges leaving each state together, one convolution per
  kernel geometry (`fan_out`), as the supernet cell does; False runs every edge on its own
  (`Edge`). Same parameters (`node{i}_in{j}/{Op}/...`), same numbers up to float rounding."""

  cell: Tuple = ()
  fused_edges: bool = True

  @nn.compact
  def __call__(self, x, alphas: Optional[Sequence] = None):
    """x [B, H, W, C_in] -> [B, H', W', channels]; alphas are ignored."""
    del alphas
    if not self.fused_edges:

      def edge_fn(i, states):
        return sum(
          Edge(self.channels, (op,), self._stride(j), self.dtype, name=f"node{i}_in{j}")(states[j])
          for op, j in self.cell[i]
        )

      return self._body(x, edge_fn)

    leaving = {}  # state j -> its kept edges [(node i, op)], nodes in order
    for i, node in enumerate(self.cell):
      for op, j in node:
        leaving.setdefault(j, []).append((i, op))
    params = {}  # (node i, state j) -> that edge's EdgeParams
    outputs = {}  # (node i, state j) -> that edge's output

    def edge_fn(i, states):
      if not params:  # all edges' parameters at the first node, in the per-edge form's order
        params.update(
          {
            (k, j): EdgeParams(self.channels, (op,), name=f"node{k}_in{j}")(self.channels)
            for k, node in enumerate(self.cell)
            for op, j in node
          }
        )
      # State i became available last: run every edge leaving it (to nodes i..n-1) now.
      edges = leaving.get(i, [])
      outs = fan_out(
        states[i],
        [params[k, i] for k, _ in edges],
        [(op,) for _, op in edges],
        self._stride(i),
        self.dtype,
      )
      for (k, op), out in zip(edges, outs):
        outputs[k, i] = out[op]
      return sum(outputs.pop((i, j)) for _, j in self.cell[i])

    return self._body(x, edge_fn)
