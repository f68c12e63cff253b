"""Max pooling (SAME padding) with a fast backward pass on CPU, numerically the same as flax's.

`flax.linen.max_pool` lowers to reduce_window, whose gradient is XLA's select_and_scatter. On
XLA:CPU that backward pass is slow: 2-7x slower than this module's at the IMPALA-CNN's shapes,
where it cost about as much as all fifteen convolutions (benchmarks/profile_cpu.py). Here the
padded input is cut into stride-sized blocks so that each of the k*k window taps is a plain slice;
the forward pass is the max over the taps, and the backward pass routes each output gradient to
the first maximal tap in row-major window order -- select_and_scatter's choice, ties included --
by k*k masked pads, one per tap, interleaved back by a reshape.

Forward values are bit-identical to `nn.max_pool(x, (k, k), (s, s), padding="SAME")`, gradients
too up to the order in which overlapping windows add into one input (1 ulp; tests/test_pooling.py).
On other backends `max_pool` is flax's (their select_and_scatter is not the bottleneck).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def _same_padding(size: int, window: int, stride: int):
  out = -(-size // stride)
  total = max((out - 1) * stride + window - size, 0)
  return out, total // 2, total - total // 2


def _geometry(shape, window, stride):
  """Output size, SAME padding and the padded size rounded up to whole stride blocks, per axis."""
  geo = []
  for size in shape[1:3]:
    out, lo, hi = _same_padding(size, window, stride)
    blocks = max(-(-(size + lo + hi) // stride), out + (window - 1) // stride)
    geo.append((out, lo, blocks))
  return geo


def _taps(x, window, stride):
  """The k*k views of the (-inf) padded input, one per window tap, in row-major tap order.

  The padded input is reshaped to (N, blocks, stride, blocks, stride, C): tap (i, j) of output
  (p, q) reads block (p + i // stride, q + j // stride) at phase (i % stride, j % stride), so
  every view is a plain slice (strided slices lower to gathers on CPU).
  """
  n, _, _, c = x.shape
  (oh, top, bh), (ow, left, bw) = _geometry(x.shape, window, stride)
  xp = jnp.pad(
    x,
    (
      (0, 0),
      (top, bh * stride - top - x.shape[1]),
      (left, bw * stride - left - x.shape[2]),
      (0, 0),
    ),
    constant_values=-jnp.inf,
  )
  xr = xp.reshape(n, bh, stride, bw, stride, c)
  return [
    xr[:, i // stride : i // stride + oh, i % stride, j // stride : j // stride + ow, j % stride]
    for i in range(window)
    for j in range(window)
  ]


def max_pool(x: jax.Array, window: int = 3, stride: int = 2) -> jax.Array:
  """Max pooling over (window x window) patches of NHWC `x`, stride `stride`, SAME padding."""
  if jax.default_backend() == "cpu":
    return cpu_max_pool(x, window, stride)
  return nn.max_pool(x, (window, window), (stride, stride), padding="SAME")


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def cpu_max_pool(x: jax.Array, window: int = 3, stride: int = 2) -> jax.Array:
  return functools.reduce(jnp.maximum, _taps(x, window, stride))


def _forward(x, window, stride):
  views = _taps(x, window, stride)
  out = functools.reduce(jnp.maximum, views)
  # Index of the first maximal tap (select_and_scatter's choice), as a max over taps of
  # (k*k - k) where tap k is maximal (a variadic argmax reduction is 30x slower on XLA:CPU).
  taps = window * window
  first = taps - jnp.max(
    jnp.stack(
      [jnp.where(v == out, jnp.int8(taps - k), jnp.int8(0)) for k, v in enumerate(views)], axis=-1
    ),
    axis=-1,
  )
  # Materialize `first`: left to itself XLA:CPU fuses its whole computation into every consumer
  # of the backward pass (and strips optimization barriers). A conditional is never fused; its
  # predicate is always true but not known to the compiler.
  first = lax.cond(first.reshape(-1)[0] >= 0, lambda f: f, jnp.zeros_like, first)
  return out, (first, x.shape)


def _backward(window, stride, residuals, g):
  first, x_shape = residuals
  n, h, w, c = x_shape
  (oh, top, bh), (ow, left, bw) = _geometry(x_shape, window, stride)
  zero = jnp.zeros((), g.dtype)
  phases = {}
  for k in range(window * window):
    i, j = divmod(k, window)
    part = jnp.pad(
      jnp.where(first == k, g, zero),
      ((0, 0), (i // stride, bh - oh - i // stride), (j // stride, bw - ow - j // stride), (0, 0)),
    )
    key = (i % stride, j % stride)
    phases[key] = part if key not in phases else phases[key] + part
  zeros = jnp.zeros((n, bh, bw, c), g.dtype)
  rows = [
    jnp.stack([phases.get((a, b), zeros) for b in range(stride)], axis=3) for a in range(stride)
  ]
  grad = jnp.stack(rows, axis=2).reshape(n, bh * stride, bw * stride, c)
  return (grad[:, top : top + h, left : left + w],)


cpu_max_pool.defvjp(_forward, _backward)
