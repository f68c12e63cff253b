"""Hand-designed baseline trunks (docs/paper.md, "Skeletons"): IMPALA-CNN and the 4-layer SAC CNN,
and the norm the SAC release puts after its convs, FilterResponseNorm.

`dtype` is the convolutions' compute dtype; their params stay float32."""

from typing import Any, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from darts_rl.pooling import max_pool

CNN4_ACTIVATIONS = ("frn", "relu")


class FilterResponseNorm(nn.Module):
  """Filter Response Normalization with a Thresholded Linear Unit: x [B, H, W, C] ->
  z [B, H, W, C]; params gamma, beta, tau of shape [C].

  Singh & Krishnan, "Filter Response Normalization Layer: Eliminating Batch Dependence in the
  Training of Deep Neural Networks", CVPR 2020 (arXiv 1911.09737). Per example and channel, over
  the spatial axes:

      nu2 = mean_{H, W} x^2;  x_hat = x / sqrt(nu2 + eps);  y = gamma * x_hat + beta;
      z = max(y, tau)   (TLU)

  gamma 1, beta 0, tau 0 at init; eps fixed at 1e-6 (the paper's learned eps matters only for
  1x1 maps). The SAC release uses it after every conv of its 4-layer CNN and before the DARTS
  encoder's dense layer (tensorflow_addons' FilterResponseNormalization: same formula and init).
  """

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


class ResidualBlock(nn.Module):
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype, name="conv0")(nn.relu(x))
    y = nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype, name="conv1")(nn.relu(y))
    return x + y


class ImpalaTrunk(nn.Module):
  """Per stage: conv3x3 -> maxpool 3x3/2 -> `blocks_per_stage` residual blocks."""

  channels: Tuple[int, ...] = (16, 32, 32)
  blocks_per_stage: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, alphas=None):
    for s, ch in enumerate(self.channels):
      x = nn.Conv(ch, (3, 3), padding="SAME", dtype=self.dtype, name=f"stage{s}_conv")(x)
      x = max_pool(x, 3, 2)
      for b in range(self.blocks_per_stage):
        x = ResidualBlock(ch, self.dtype, name=f"stage{s}_block{b}")(x)
    return x


class CNN4Trunk(nn.Module):
  """4 conv layers of `channels` 3x3 filters, strides (2, 1, 1, 1), VALID, each followed by
  `activation`: frn (FilterResponseNorm + TLU, the SAC release's) | relu (SAC-AE / DrQ's).
  x [B, 84, 84, C] -> [B, 35, 35, channels]."""

  channels: int = 32
  activation: str = "frn"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, alphas=None):
    if self.activation not in CNN4_ACTIVATIONS:
      raise ValueError(
        f"unknown cnn4 activation '{self.activation}'; valid: {', '.join(CNN4_ACTIVATIONS)}"
      )
    for i, stride in enumerate((2, 1, 1, 1)):
      x = nn.Conv(
        self.channels, (3, 3), (stride, stride), padding="VALID", dtype=self.dtype, name=f"conv{i}"
      )(x)
      x = FilterResponseNorm(name=f"frn{i}")(x) if self.activation == "frn" else nn.relu(x)
    return x
