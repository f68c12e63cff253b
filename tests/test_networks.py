"""Encoder building blocks: FRN values, the SAC encoders' shapes and parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from darts_rl.config import encoder_config
from darts_rl.networks import make_encoder
from darts_rl.networks.baselines import FilterResponseNorm
from darts_rl.search.genotype import Genotype
from experiments import sac_dmc

SAC_OBS = (2, 84, 84, 9)  # 84x84, 3 stacked RGB frames


def _frn_input():
  """x [2, 1, 2, 2]: per (example, channel) the two spatial values below."""
  x = np.zeros((2, 1, 2, 2), np.float32)
  x[0, 0, :, 0] = [1.0, 7.0]  # nu2 = (1 + 49) / 2 = 25  -> x_hat = [0.2, 1.4]
  x[0, 0, :, 1] = [-2.0, 2.0]  # nu2 = 4                  -> x_hat = [-1, 1]
  x[1, 0, :, 0] = [3.0, 4.0]  # nu2 = 12.5               -> x_hat = [3, 4] / sqrt(12.5)
  x[1, 0, :, 1] = [1e-3, 0.0]  # nu2 = 5e-7, eps matters  -> x_hat = [1e-3 / sqrt(1.5e-6), 0]
  return jnp.asarray(x)


def test_frn_forward_hand_computed():
  x = _frn_input()
  frn = FilterResponseNorm()
  params = frn.init(jax.random.PRNGKey(0), x)
  p = params["params"]
  assert {k: v.shape for k, v in p.items()} == {"gamma": (2,), "beta": (2,), "tau": (2,)}
  np.testing.assert_array_equal(p["gamma"], [1, 1])
  np.testing.assert_array_equal(p["beta"], [0, 0])
  np.testing.assert_array_equal(p["tau"], [0, 0])
  r = 1 / np.sqrt(12.5)
  small = 1e-3 / np.sqrt(1.5e-6)  # 0.816; without eps it would be sqrt(2)
  # Init: z = max(x_hat, 0).
  want = np.zeros((2, 1, 2, 2))
  want[0, 0, :, 0], want[0, 0, :, 1] = [0.2, 1.4], [0.0, 1.0]
  want[1, 0, :, 0], want[1, 0, :, 1] = [3 * r, 4 * r], [small, 0.0]
  np.testing.assert_allclose(frn.apply(params, x), want, rtol=1e-5)
  # gamma [2, 1], beta [-1, 0.5], tau [0, 1.2]: z = max(gamma x_hat + beta, tau).
  p = {"gamma": jnp.array([2.0, 1.0]), "beta": jnp.array([-1.0, 0.5]), "tau": jnp.array([0.0, 1.2])}
  z = frn.apply({"params": p}, x)
  np.testing.assert_allclose(z[0, 0, :, 0], [0.0, 1.8], rtol=1e-5)  # [-0.6, 1.8]
  np.testing.assert_allclose(z[0, 0, :, 1], [1.2, 1.5], rtol=1e-5)  # [-0.5, 1.5]
  np.testing.assert_allclose(z[1, 0, :, 0], [6 * r - 1, 8 * r - 1], rtol=1e-5)
  np.testing.assert_allclose(z[1, 0, :, 1], [small + 0.5, 1.2], rtol=1e-5)  # [1.32, 0.5]


def _n_params(spec, obs_shape=SAC_OBS):
  shapes = jax.eval_shape(
    spec.module.init, jax.random.PRNGKey(0), jnp.zeros(obs_shape, jnp.uint8), spec.alphas
  )
  flat = traverse_util.flatten_dict(shapes["params"])
  return sum(int(np.prod(v.shape)) for v in flat.values()), {
    "/".join(k): v.shape for k, v in flat.items()
  }


def _conv(k, cin, cout):
  return k * k * cin * cout + cout


@pytest.mark.parametrize("activation", ["frn", "relu"])
def test_cnn4_shapes_and_parameter_count(activation):
  spec = make_encoder(
    encoder_config(
      kind="cnn4", channels=(32,), head="sac", feature_dim=50, cnn4_activation=activation
    )
  )
  n, shapes = _n_params(spec)
  # 84 -> 41 (3x3 stride 2 VALID) -> 39 -> 37 -> 35.
  frn = 4 * 3 * 32 if activation == "frn" else 0
  assert n == (
    _conv(3, 9, 32) + 3 * _conv(3, 32, 32) + frn + 35 * 35 * 32 * 50 + 50 + 2 * 50
  )  # Dense(50) on 35x35x32, LayerNorm(50)
  assert shapes["head/dense/kernel"] == (35 * 35 * 32, 50)
  assert ("trunk/frn3/tau" in shapes) == (activation == "frn")
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, SAC_OBS, np.uint8))
  params = spec.module.init(jax.random.PRNGKey(0), obs, {})
  out = spec.module.apply(params, obs, {})
  assert out.shape == (2, 50) and np.all(np.isfinite(out))


# node0 <- Conv3x3(in); node1 <- Relu(in) + Conv3x3(node0): 2 Conv3x3 edges per cell.
CELL = {"normal": [[["Conv3x3", 0]], [["Relu", 0], ["Conv3x3", 1]]]}


@pytest.mark.parametrize("padding,stem_hw", [("VALID", 41), ("SAME", 42)])
def test_sac_darts_encoder_shapes_and_parameter_count(padding, stem_hw):
  c = 8
  cfg = encoder_config(
    kind="fixed",
    channels=(c,),
    stem_channels=c,
    stem_stride=2,
    stem_padding=padding,
    num_nodes=2,
    head="sac",
    feature_dim=50,
    head_norm="frn",
  )
  spec = make_encoder(
    cfg, genotype=Genotype.make(("Conv3x3", "Relu", "Tanh", "SkipConnection", "Zero"), CELL)
  )
  n, shapes = _n_params(spec)
  # stem 84 -> 41 (VALID) or 42 (SAME), stage conv SAME, maxpool 3x3/2 SAME -> 21 either way.
  cell = 2 * _conv(3, c, c) + _conv(1, 2 * c, c)  # two Conv3x3 edges, 1x1 output conv
  assert n == (
    _conv(3, 9, c) + _conv(3, c, c) + 2 * cell + 3 * c + 21 * 21 * c * 50 + 50 + 2 * 50
  )  # FRN, Dense(50), LayerNorm
  assert shapes["head/frn/gamma"] == (c,)
  obs = jnp.asarray(np.random.default_rng(1).integers(0, 256, SAC_OBS, np.uint8))
  params = spec.module.init(jax.random.PRNGKey(0), obs, {})
  out, state = spec.module.apply(
    params, obs, {}, mutable=["intermediates"], capture_intermediates=lambda m, _: m.name == "stem"
  )
  assert state["intermediates"]["trunk"]["stem"]["__call__"][0].shape == (2, stem_hw, stem_hw, c)
  assert out.shape == (2, 50) and np.all(np.isfinite(out))


def test_sac_experiment_defaults_are_the_release():
  search = sac_dmc.get_config("search").encoder
  assert (search.stem_padding, search.head_norm, search.stem_stride) == ("VALID", "frn", 2)
  assert sac_dmc.get_config("baseline").encoder.cnn4_activation == "frn"
  spec = make_encoder(search)
  _, shapes = _n_params(spec)
  assert shapes["trunk/stem/kernel"] == (3, 3, 9, 32) and shapes["head/frn/tau"] == (32,)
  assert shapes["head/dense/kernel"] == (21 * 21 * 32, 50)


def test_bad_activation_and_head_norm():
  for kw, msg in (
    ({"kind": "cnn4", "cnn4_activation": "gelu"}, "unknown cnn4 activation 'gelu'"),
    ({"kind": "impala", "head_norm": "bn"}, "unknown encoder head_norm 'bn'"),
  ):
    spec = make_encoder(encoder_config(**kw))
    with pytest.raises(ValueError, match=msg):
      _n_params(spec, (1, 64, 64, 3))
  with pytest.raises(ValueError, match="unknown stem_padding 'valid'"):
    make_encoder(encoder_config(kind="supernet", stem_padding="valid"))
