"""Filter Response Normalization with a Thresholded Linear Unit.

Singh & Krishnan, "Filter Response Normalization Layer: Eliminating Batch Dependence in the
Training of Deep Neural Networks", CVPR 2020 (arXiv 1911.09737). Per example and channel, over
the spatial axes:

    nu2 = mean_{H, W} x^2;  x_hat = x / sqrt(nu2 + eps);  y = gamma * x_hat + beta;
    z = max(y, tau)   (TLU)

gamma 1, beta 0, tau 0 at init; eps fixed at 1e-6 (the paper's learned eps matters only for
1x1 maps). The SAC release uses it after every conv of its 4-layer CNN and before the DARTS
encoder's dense layer (tensorflow_addons' FilterResponseNormalization: same formula and init).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


class FilterResponseNorm(nn.Module):
  """x [B, H, W, C] -> z [B, H, W, C]; params gamma, beta, tau of shape [C]."""

  eps: float = 1e-6

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    gamma = self.param("gamma", nn.initializers.ones, (c,))
    beta = self.param("beta", nn.initializers.zeros, (c,))
    tau = self.param("tau", nn.initializers.zeros, (c,))
    nu2 = jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
    x_hat = x * jax.lax.rsqrt(nu2 + self.eps)
    return jnp.maximum(gamma * x_hat + beta, tau)
