"""darts_rl.pooling.max_pool: forward bit-identical to flax's nn.max_pool, gradients equal up to
summation order, ties routed the same way."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl.pooling import _taps, max_pool


@pytest.mark.parametrize(
  "shape,window,stride",
  [
    ((2, 8, 8, 3), 3, 2),
    ((2, 9, 7, 2), 3, 2),
    ((1, 8, 8, 4), 3, 1),
    ((2, 5, 6, 1), 3, 1),
    ((1, 10, 10, 2), 2, 2),
  ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_flax(shape, window, stride, ties):
  rng = np.random.default_rng(0)
  # Few distinct values -> many windows with several maximal taps: who gets the gradient?
  x = (
    rng.integers(0, 3, shape).astype(np.float32)
    if ties
    else rng.standard_normal(shape).astype(np.float32)
  )
  x = jnp.asarray(x)
  ref = lambda x: nn.max_pool(x, (window, window), (stride, stride), padding="SAME")
  ours = lambda x: max_pool(x, window, stride)
  np.testing.assert_array_equal(ours(x), ref(x))
  g = jnp.asarray(rng.standard_normal(ref(x).shape).astype(np.float32))
  grad = lambda f: jax.jit(jax.grad(lambda x: jnp.sum(g * f(x))))(x)
  # Equal up to the order in which overlapping windows add into one input (1 ulp).
  np.testing.assert_allclose(grad(ours), grad(ref), rtol=1e-6, atol=1e-7)
  if ties:  # the case is real: some window has a tie at its max
    assert not np.array_equal(
      grad(ours), jax.grad(lambda x: jnp.sum(g * _split_ties(x, window, stride)))(x)
    )


def _split_ties(x, window, stride):
  """Max pooling by jnp.maximum, whose gradient splits ties: a different (valid) subgradient."""
  return functools.reduce(jnp.maximum, _taps(x, window, stride))
