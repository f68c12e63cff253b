"""Candidate operations of the DARTS search space (docs/paper.md, "Operations").

Every op is built by `OPS[name](channels, stride, name=...)` and maps an NHWC tensor with `channels`
channels to one with `channels` channels (cells make channel counts agree before mixing).
Convolutions are SAME-padded with bias. Parameter-free ops with stride > 1 first apply a 3x3
average pool with that stride (SAME), as in the released code.
"""
from typing import Callable, Dict, FrozenSet, Tuple

import flax.linen as nn
import jax.numpy as jnp

from darts_rl.pooling import max_pool


def _avg_pool(x, stride):
  # TF-style SAME average pooling: padding does not count towards the mean.
  return nn.avg_pool(x, (3, 3), (stride, stride), padding="SAME", count_include_pad=False)


class Conv(nn.Module):
  """SAME conv with bias, optionally dilated, optionally followed by ReLU."""
  channels: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  relu: bool = False

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.channels, (self.kernel, self.kernel), (self.stride, self.stride),
                padding="SAME", kernel_dilation=(self.dilation, self.dilation), name="conv")(x)
    return nn.relu(x) if self.relu else x


class ParamFree(nn.Module):
  """A parameter-free elementwise op; stride > 1 average-pools first."""
  fn: Callable
  stride: int = 1

  def __call__(self, x):
    if self.stride > 1:
      x = _avg_pool(x, self.stride)
    return self.fn(x)


class Zero(nn.Module):
  """Outputs zeros with the (strided) output shape."""
  stride: int = 1

  def __call__(self, x):
    return jnp.zeros_like(x[:, ::self.stride, ::self.stride, :])


class Pool(nn.Module):
  """3x3 pooling with the edge's stride (max or TF-style average)."""
  kind: str
  stride: int = 1

  def __call__(self, x):
    if self.kind == "max":
      return max_pool(x, 3, self.stride)
    return _avg_pool(x, self.stride)


def _conv(kernel, dilation=1, relu=False):
  return lambda channels, stride, **kw: Conv(channels, kernel, stride, dilation, relu, **kw)


def _free(fn):
  return lambda channels, stride, **kw: ParamFree(fn, stride, **kw)


def _identity(x):
  return x


# Ops with weights; every other op is parameter-free (PARAMETER_FREE).
_CONVS: Dict[str, Callable[..., nn.Module]] = {
    "Conv3x3": _conv(3),
    "Conv5x5": _conv(5),
    "DilConv3x3": _conv(3, dilation=2),
    "DilConv5x5": _conv(5, dilation=2),
    "Conv3x3Relu": _conv(3, relu=True),
    "Conv5x5Relu": _conv(5, relu=True),
    "DilConv3x3Relu": _conv(3, dilation=2, relu=True),
    "DilConv5x5Relu": _conv(5, dilation=2, relu=True),
}

OPS: Dict[str, Callable[..., nn.Module]] = {
    **_CONVS,
    "Relu": _free(nn.relu),
    "Tanh": _free(jnp.tanh),
    "Sigmoid": _free(nn.sigmoid),
    "Elu": _free(nn.elu),
    "Gelu": _free(nn.gelu),
    "Selu": _free(nn.selu),
    "Silu": _free(nn.silu),
    "SkipConnection": _free(_identity),
    "Zero": lambda channels, stride, **kw: Zero(stride, **kw),
    "MaxPool3x3": lambda channels, stride, **kw: Pool("max", stride, **kw),
    "AvgPool3x3": lambda channels, stride, **kw: Pool("avg", stride, **kw),
}

# The ops DARTS collapses onto (skip, nonlinearities, pools): the collapse monitor's share.
PARAMETER_FREE: FrozenSet[str] = frozenset(OPS) - frozenset(_CONVS)

ZERO = "Zero"

OP_SETS: Dict[str, Tuple[str, ...]] = {
    # Used by every released CNN test and by the SAC encoder.
    "base": ("Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero"),
    # The DARTS-like set.
    "classic": ("Conv3x3Relu", "DilConv3x3Relu", "Conv5x5Relu", "DilConv5x5Relu",
                "SkipConnection", "Zero"),
}


def resolve_op_set(op_set) -> Tuple[str, ...]:
  """An op-set name ('base', 'classic') or a sequence of op names -> tuple of op names.

  Raises ValueError naming the unknown set or op and listing the valid ones.
  """
  if isinstance(op_set, str):
    if op_set not in OP_SETS:
      raise ValueError(f"unknown op set '{op_set}'; valid op sets: {', '.join(OP_SETS)}"
                       " (or give a list of op names)")
    return OP_SETS[op_set]
  names = tuple(op_set)
  if not names:
    raise ValueError("op set is empty; give an op-set name or a list of op names")
  for name in names:
    if name not in OPS:
      raise ValueError(f"unknown op '{name}'; valid ops: {', '.join(OPS)}")
  if len(set(names)) != len(names):
    raise ValueError(f"op set lists an op twice: {list(names)}")
  if all(n == ZERO for n in names):
    raise ValueError("op set must contain at least one op besides Zero")
  return names
