"""Candidate operations of the DARTS search space (docs/paper.md, "Operations").

Every op is built by `OPS[name](channels, stride, dtype=jnp.float32, name=...)` and maps an NHWC
tensor with `channels` channels to one with `channels` channels (cells make channel counts agree
before mixing). Convolutions are SAME-padded with bias and compute in `dtype` (their parameters
stay float32); parameter-free ops compute in their input's dtype and, with stride > 1, first
apply a 3x3 average pool with that stride (SAME), as in the released code.
"""

from typing import Any, Callable, Dict, FrozenSet, NamedTuple, Tuple

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from darts_rl.pooling import max_pool


def _avg_pool(x, stride):
  # TF-style SAME average pooling: padding does not count towards the mean.
  return nn.avg_pool(x, (3, 3), (stride, stride), padding="SAME", count_include_pad=False)


class ConvSpec(NamedTuple):
  """A convolution op's shape: kernel size, dilation, and whether ReLU follows."""

  kernel: int
  dilation: int = 1
  relu: bool = False


class ConvParams(nn.Module):
  """A convolution's kernel [k, k, C_in, channels] and bias [channels], created as nn.Conv
  creates them (same names, initializers and order: the same values from the same key), so
  parameter trees and checkpoints are those of an nn.Conv named like this module."""

  channels: int
  kernel: int

  @nn.compact
  def __call__(self, in_channels: int):
    k = self.param(
      "kernel",
      nn.linear.default_kernel_init,
      (self.kernel, self.kernel, in_channels, self.channels),
      jnp.float32,
    )
    b = self.param("bias", nn.initializers.zeros_init(), (self.channels,), jnp.float32)
    return k, b


def same_conv(x, kernel, bias, stride: int = 1, dilation: int = 1, dtype: Any = jnp.float32):
  """nn.Conv's SAME convolution with bias, computed in `dtype`. x [B, H, W, C_in],
  kernel [k, k, C_in, C], bias [C] -> [B, ceil(H / stride), ceil(W / stride), C]."""
  y = lax.conv_general_dilated(
    x.astype(dtype),
    kernel.astype(dtype),
    (stride, stride),
    "SAME",
    rhs_dilation=(dilation, dilation),
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )
  return y + bias.astype(dtype)


class Conv(nn.Module):
  """SAME conv with bias, optionally dilated, optionally followed by ReLU; params `conv/kernel`
  and `conv/bias` (ConvParams). `kernel_and_bias` gives them without applying the conv (the fused
  supernet cell applies several edges' kernels as one convolution)."""

  channels: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  relu: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    self.conv = ConvParams(self.channels, self.kernel)

  def kernel_and_bias(self, in_channels: int):
    """-> kernel [k, k, in_channels, channels], bias [channels] (float32)."""
    return self.conv(in_channels)

  def __call__(self, x):
    y = same_conv(x, *self.conv(x.shape[-1]), self.stride, self.dilation, self.dtype)
    return nn.relu(y) if self.relu else y


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
    return jnp.zeros_like(x[:, :: self.stride, :: self.stride, :])


class Pool(nn.Module):
  """3x3 pooling with the edge's stride (max or TF-style average)."""

  kind: str
  stride: int = 1

  def __call__(self, x):
    if self.kind == "max":
      return max_pool(x, 3, self.stride)
    return _avg_pool(x, self.stride)


def _conv(spec: ConvSpec):
  return lambda channels, stride, dtype=jnp.float32, **kw: Conv(
    channels, spec.kernel, stride, spec.dilation, spec.relu, dtype, **kw
  )


# Parameter-free ops take `dtype` and ignore it: they compute in their input's dtype.
def _free(fn):
  return lambda channels, stride, dtype=None, **kw: ParamFree(fn, stride, **kw)


def _identity(x):
  return x


# Ops with weights; every other op is parameter-free (PARAMETER_FREE).
CONV_SPECS: Dict[str, ConvSpec] = {
  "Conv3x3": ConvSpec(3),
  "Conv5x5": ConvSpec(5),
  "DilConv3x3": ConvSpec(3, dilation=2),
  "DilConv5x5": ConvSpec(5, dilation=2),
  "Conv3x3Relu": ConvSpec(3, relu=True),
  "Conv5x5Relu": ConvSpec(5, relu=True),
  "DilConv3x3Relu": ConvSpec(3, dilation=2, relu=True),
  "DilConv5x5Relu": ConvSpec(5, dilation=2, relu=True),
}

OPS: Dict[str, Callable[..., nn.Module]] = {
  **{name: _conv(spec) for name, spec in CONV_SPECS.items()},
  "Relu": _free(nn.relu),
  "Tanh": _free(jnp.tanh),
  "Sigmoid": _free(nn.sigmoid),
  "Elu": _free(nn.elu),
  "Gelu": _free(nn.gelu),
  "Selu": _free(nn.selu),
  "Silu": _free(nn.silu),
  "SkipConnection": _free(_identity),
  "Zero": lambda channels, stride, dtype=None, **kw: Zero(stride, **kw),
  "MaxPool3x3": lambda channels, stride, dtype=None, **kw: Pool("max", stride, **kw),
  "AvgPool3x3": lambda channels, stride, dtype=None, **kw: Pool("avg", stride, **kw),
}

# The ops DARTS collapses onto (skip, nonlinearities, pools): the collapse monitor's share.
PARAMETER_FREE: FrozenSet[str] = frozenset(OPS) - frozenset(CONV_SPECS)


def apply_parameter_free(name: str, x, stride: int):
  """Parameter-free op `name` on x [B, H, W, C] outside any module scope (parent=None), so a
  caller can compute it once and share it between edges. -> [B, H / stride, W / stride, C]."""
  return OPS[name](x.shape[-1], stride, parent=None).apply({}, x)


ZERO = "Zero"

OP_SETS: Dict[str, Tuple[str, ...]] = {
  # Used by every released CNN test and by the SAC encoder.
  "base": ("Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero"),
  # The DARTS-like set.
  "classic": (
    "Conv3x3Relu",
    "DilConv3x3Relu",
    "Conv5x5Relu",
    "DilConv5x5Relu",
    "SkipConnection",
    "Zero",
  ),
}


def resolve_op_set(op_set) -> Tuple[str, ...]:
  """An op-set name ('base', 'classic'), op names comma-separated ('Conv3x3,Relu,Zero': how
  `--config.encoder.op_set=` gives a list) or a sequence of op names -> tuple of op names.

    Raises ValueError naming the unknown set or op and listing the valid ones.
  """
  if isinstance(op_set, str) and "," not in op_set:
    if op_set not in OP_SETS:
      raise ValueError(
        f"unknown op set '{op_set}'; valid op sets: {', '.join(OP_SETS)}"
        " (or give op names, comma-separated)"
      )
    return OP_SETS[op_set]
  names = tuple(n.strip() for n in op_set.split(",")) if isinstance(op_set, str) else tuple(op_set)
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
