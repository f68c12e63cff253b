"""Encoder heads: trunk feature map -> feature vector."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from darts_rl.networks.frn import FilterResponseNorm

HEADS = ("impala", "sac")
HEAD_NORMS = ("none", "frn")


class FeatureHead(nn.Module):
  """x [B, H, W, C] -> [B, dim].

  `norm` of the feature map first: none | frn (FilterResponseNorm + TLU: the SAC release's
  DARTS encoder). Then `impala`: flatten -> ReLU -> Dense(dim) -> ReLU (IMPALA-CNN);
  `sac`: flatten -> Dense(dim) -> LayerNorm (pixel SAC encoders, docs/paper.md). The Dense
  layer computes in `dtype` (params float32); the norms compute in float32 (params and input
  promote to it)."""

  kind: str = "impala"
  dim: int = 256
  norm: str = "none"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.norm not in HEAD_NORMS:
      raise ValueError(f"unknown encoder head_norm '{self.norm}'; valid: {', '.join(HEAD_NORMS)}")
    if self.norm == "frn":
      x = FilterResponseNorm(name="frn")(x)
    x = x.reshape(x.shape[0], -1)
    dense = nn.Dense(self.dim, dtype=self.dtype, name="dense")
    if self.kind == "impala":
      return nn.relu(dense(nn.relu(x)))
    if self.kind == "sac":
      return nn.LayerNorm(name="norm")(dense(x))
    raise ValueError(f"unknown encoder head '{self.kind}'; valid heads: {', '.join(HEADS)}")
