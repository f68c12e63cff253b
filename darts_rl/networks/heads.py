"""Encoder heads: trunk feature map -> feature vector."""
import flax.linen as nn

HEADS = ("impala", "sac")


class FeatureHead(nn.Module):
  """`impala`: flatten -> ReLU -> Dense(dim) -> ReLU (IMPALA-CNN).
  `sac`: flatten -> Dense(dim) -> LayerNorm (pixel SAC encoders, REFERENCE.md §3)."""
  kind: str = "impala"
  dim: int = 256

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    if self.kind == "impala":
      return nn.relu(nn.Dense(self.dim, name="dense")(nn.relu(x)))
    if self.kind == "sac":
      return nn.LayerNorm(name="norm")(nn.Dense(self.dim, name="dense")(x))
    raise ValueError(f"unknown encoder head '{self.kind}'; valid heads: {', '.join(HEADS)}")
