"""darts_rl.conv.Conv is nn.Conv: same parameter tree and initial values, same outputs, same
gradients (its bias gradient on CPU is a dot instead of XLA's reduction)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl import conv


@pytest.mark.parametrize("kw", [
    dict(features=16, kernel_size=(3, 3)),
    dict(features=8, kernel_size=(3, 3), strides=(2, 2), padding="VALID"),
    dict(features=8, kernel_size=(3, 3), strides=2),
    dict(features=8, kernel_size=(3, 3), kernel_dilation=(2, 2)),
    dict(features=4, kernel_size=(1, 1)),
])
def test_conv_matches_flax_conv(kw):
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 13, 13, 5))
  ours, ref = conv.Conv(**kw), nn.Conv(**kw)
  p = ours.init(jax.random.PRNGKey(0), x)
  p_ref = ref.init(jax.random.PRNGKey(0), x)
  assert jax.tree.structure(p) == jax.tree.structure(p_ref)
  for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(p_ref)):
    np.testing.assert_array_equal(a, b)
  # A non-zero bias, so the forward pass checks the bias add too.
  p = jax.tree.map(lambda a: a + 0.1, p)
  np.testing.assert_allclose(ours.apply(p, x), ref.apply(p, x), rtol=1e-6, atol=1e-6)
  w = jax.random.normal(jax.random.PRNGKey(2), ref.apply(p, x).shape)
  loss = lambda m: lambda p, x: jnp.sum(w * jnp.tanh(m.apply(p, x)))
  g, gx = jax.grad(loss(ours), argnums=(0, 1))(p, x)
  g_ref, gx_ref = jax.grad(loss(ref), argnums=(0, 1))(p, x)
  for a, b in zip(jax.tree.leaves((g, gx)), jax.tree.leaves((g_ref, gx_ref))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  assert float(jnp.abs(g["params"]["bias"]).max()) > 0.1  # the bias gradient is not trivial


def test_uint8_input_promotes_like_flax():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.uint8).reshape(2, 4, 4, 3)
  p = nn.Conv(2, (3, 3)).init(jax.random.PRNGKey(0), x)
  y = conv.Conv(2, (3, 3)).apply(p, x)
  assert y.dtype == jnp.float32
  np.testing.assert_allclose(y, nn.Conv(2, (3, 3)).apply(p, x), rtol=1e-6)
