"""Hand-designed baseline trunks (REFERENCE.md §3): IMPALA-CNN and the 4-layer SAC CNN."""
from typing import Tuple

import flax.linen as nn

from darts_rl.pooling import max_pool


class ResidualBlock(nn.Module):
  channels: int

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.channels, (3, 3), padding="SAME", name="conv0")(nn.relu(x))
    y = nn.Conv(self.channels, (3, 3), padding="SAME", name="conv1")(nn.relu(y))
    return x + y


class ImpalaTrunk(nn.Module):
  """Per stage: conv3x3 -> maxpool 3x3/2 -> `blocks_per_stage` residual blocks."""
  channels: Tuple[int, ...] = (16, 32, 32)
  blocks_per_stage: int = 2

  @nn.compact
  def __call__(self, x, alphas=None):
    for s, ch in enumerate(self.channels):
      x = nn.Conv(ch, (3, 3), padding="SAME", name=f"stage{s}_conv")(x)
      x = max_pool(x, 3, 2)
      for b in range(self.blocks_per_stage):
        x = ResidualBlock(ch, name=f"stage{s}_block{b}")(x)
    return x


class CNN4Trunk(nn.Module):
  """4 conv layers of `channels` 3x3 filters, strides (2, 1, 1, 1), VALID, each + ReLU
  (the SAC-AE / DrQ pixel encoder)."""
  channels: int = 32

  @nn.compact
  def __call__(self, x, alphas=None):
    for i, stride in enumerate((2, 1, 1, 1)):
      x = nn.relu(nn.Conv(self.channels, (3, 3), (stride, stride), padding="VALID",
                          name=f"conv{i}")(x))
    return x
