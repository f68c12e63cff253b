"""2D convolution with bias, as `flax.linen.Conv`, with a fast bias gradient on CPU.

The bias gradient is the sum of the output gradient over batch and space. XLA:CPU lowers that
large reduction through reduce_window (its tree-reduction rewrite), which cost 10% of the
IMPALA-CNN's training step (benchmarks/profile_cpu.py). Here, on CPU, the same sum is a
matrix-vector product with a vector of ones, which XLA:CPU runs as one fast dot: 5-10x faster
at the IMPALA-CNN's shapes. Values agree up to float summation order.

`Conv` has nn.Conv's parameters -- names (`kernel`, `bias`), shapes, initializers and so the
same initial values for the same key -- and the same forward pass (tests/test_conv.py), so it
replaces nn.Conv everywhere in darts_rl. On other backends the bias is added as flax does.
"""
from typing import Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


@jax.custom_vjp
def _cpu_bias_add(y, bias):
  return y + bias


def _bias_add_fwd(y, bias):
  return y + bias, None


def _bias_add_bwd(_, g):
  flat = g.reshape(-1, g.shape[-1])
  return g, jnp.ones((flat.shape[0],), g.dtype) @ flat


_cpu_bias_add.defvjp(_bias_add_fwd, _bias_add_bwd)


def bias_add(y, bias):
  """y [..., C] + bias [C]; on CPU the bias gradient is a dot (see the module docstring)."""
  if jax.default_backend() == "cpu":
    return _cpu_bias_add(y, bias)
  return y + bias


def _pair(v) -> tuple:
  return (v, v) if isinstance(v, int) else tuple(v)


class Conv(nn.Module):
  """NHWC 2D convolution with bias: nn.Conv's parameters and forward pass (see above)."""
  features: int
  kernel_size: Sequence[int]
  strides: Union[int, Sequence[int]] = 1
  padding: str = "SAME"
  kernel_dilation: Union[int, Sequence[int]] = 1

  @nn.compact
  def __call__(self, x):
    kernel_shape = tuple(self.kernel_size) + (x.shape[-1], self.features)
    kernel = self.param("kernel", nn.linear.default_kernel_init, kernel_shape, jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias)
    y = lax.conv_general_dilated(
        x, kernel, _pair(self.strides), self.padding, rhs_dilation=_pair(self.kernel_dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return bias_add(y, bias)
