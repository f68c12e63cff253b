"""Macro search space: supernet/fixed equivalence, discretization, genotype JSON, sampler, width."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from darts_rl import artifacts
from darts_rl.config import encoder_config
from darts_rl.networks import baselines, make_encoder
from darts_rl.networks.encoders import make_space
from darts_rl.search.macro import (
  BLOCK_OPS,
  DOWNSAMPLE_OPS,
  FORMAT,
  MacroGenotype,
  MacroSpace,
  StageGene,
)

BIG = 1e4


def _obs(seed=0, batch=2):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (batch, 64, 64, 3), np.uint8))


def _flat(params):
  return traverse_util.flatten_dict(params["params"])


def _copy_subset(src, dst_like, slice_to_shape=False):
  """dst_like's param tree filled from src by identical names (sliced to shape if asked)."""
  src_flat, out = _flat(src), {}
  for path, v in _flat(dst_like).items():
    assert path in src_flat, f"fixed param {'/'.join(path)} missing from the supernet"
    s = src_flat[path]
    if slice_to_shape:
      s = s[tuple(slice(0, d) for d in v.shape)]
    assert s.shape == v.shape, (path, s.shape, v.shape)
    out[path] = s
  return {"params": traverse_util.unflatten_dict(out)}


def _one_hot_alphas(space, g):
  """Alphas that are BIG on exactly the ops (and widths) of genotype g."""
  a = jax.tree_util.tree_map(np.array, space.init_alphas())
  for s, st in enumerate(g.stages):
    a["downsample"][s, space.downsample_ops.index(st.downsample)] = BIG
    for b, op in enumerate(st.blocks):
      a["blocks"][s, b, space.block_ops.index(op)] = BIG
    if space.search_width:
      a["width"][s, space.widths.index(st.width)] = BIG
  return a


def _genotype(stages):
  return MacroGenotype(tuple(StageGene(d, tuple(b), w) for d, b, w in stages))


HAND = _genotype(
  [
    ("avgpool", ["res5x5", "skip"], 16),
    ("conv3x3s2", ["conv3x3relu", "res3x3"], 32),
    ("maxpool", ["skip", "res5x5"], 32),
  ]
)


@pytest.fixture(scope="module")
def supernet():
  spec = make_encoder(encoder_config(kind="supernet", space="macro"))
  params = jax.jit(spec.module.init)(jax.random.PRNGKey(0), _obs(), spec.alphas)
  return spec, params, jax.jit(spec.module.apply)


def test_alphas_layout_and_summary(supernet):
  spec, _, _ = supernet
  assert isinstance(spec.space, MacroSpace) and spec.space.cell_types == ()
  assert {k: v.shape for k, v in spec.alphas.items()} == {"downsample": (3, 3), "blocks": (3, 2, 4)}
  assert all(float(jnp.abs(v).max()) == 0.0 for v in spec.alphas.values())
  summary = spec.space.mixing_summary(spec.alphas)
  assert summary["downsample/stage0/maxpool"] == pytest.approx(1 / 3)
  assert summary["blocks/stage1_slot0/res3x3"] == pytest.approx(1 / 4)
  assert summary["downsample/entropy"] == pytest.approx(np.log(3), rel=1e-5)
  assert summary["blocks/entropy"] == pytest.approx(np.log(4), rel=1e-5)
  assert len(summary) == 3 * 3 + 3 * 2 * 4 + 2
  assert all(isinstance(v, float) for v in summary.values())


def test_candidate_ops(supernet):
  _, params, _ = supernet
  shapes = {"/".join(k): v.shape for k, v in _flat(params).items()}
  assert shapes["trunk/stage0/conv/kernel"] == (3, 3, 3, 16)
  assert shapes["trunk/stage1/downsample/conv3x3s2/conv/kernel"] == (3, 3, 32, 32)
  assert shapes["trunk/stage1/block0/res3x3/conv1/kernel"] == (3, 3, 32, 32)
  assert shapes["trunk/stage2/block1/res5x5/conv0/kernel"] == (5, 5, 32, 32)
  assert shapes["trunk/stage0/block1/conv3x3relu/conv/kernel"] == (3, 3, 16, 16)
  assert not any("/maxpool/" in k or "/avgpool/" in k or "/skip/" in k for k in shapes)
  # Pools: 3x3 stride 2 SAME; the average does not count padding (a constant stays constant).
  x = jnp.ones((1, 5, 5, 2)).at[0, 0, 0, 0].set(10.0)
  for name, corner in (("avgpool", 13.0 / 4), ("maxpool", 10.0)):
    y = DOWNSAMPLE_OPS[name](2, name).apply({}, x)
    assert y.shape == (1, 3, 3, 2)
    np.testing.assert_allclose(y[0, :, :, 1], 1.0)
    assert float(y[0, 0, 0, 0]) == pytest.approx(corner)


@pytest.mark.parametrize("which", ["hand", "sampled0", "sampled1"])
def test_one_hot_supernet_equals_fixed(supernet, tmp_path, which):
  spec, sup_params, sup_apply = supernet
  space = spec.space
  g = HAND if which == "hand" else space.sample(np.random.default_rng(int(which[-1])))
  path = tmp_path / "genotype.json"
  path.write_text(g.to_json())
  cfg = encoder_config(kind="fixed", space="macro", genotype=str(path))
  fixed = make_encoder(cfg, artifacts.encoder_genotype(cfg))
  # The spec's genotype records the shape it was built with (HAND records none: the config's).
  assert fixed.genotype == g.with_space(space.shape()) and fixed.alphas == {}
  obs = _obs(1)
  fixed_params = _copy_subset(
    sup_params, jax.jit(fixed.module.init)(jax.random.PRNGKey(1), obs, {})
  )
  want = jax.jit(fixed.module.apply)(fixed_params, obs, {})
  got = sup_apply(sup_params, obs, _one_hot_alphas(space, g))
  np.testing.assert_allclose(got, want, atol=1e-5)
  # Not vacuous: another genotype's alphas give a different output.
  other = space.discretize(jax.tree_util.tree_map(lambda a: -a, _one_hot_alphas(space, g)))
  assert other != g
  assert np.abs(sup_apply(sup_params, obs, _one_hot_alphas(space, other)) - want).max() > 1e-3


def test_impala_genotype_is_impala_cnn():
  space = MacroSpace()
  g = _genotype([("maxpool", ["res3x3", "res3x3"], c) for c in space.channels])
  trunk, impala = space.trunk(g), baselines.ImpalaTrunk(space.channels, 2)
  x = _obs().astype(jnp.float32) / 255.0
  params = trunk.init(jax.random.PRNGKey(2), x, {})
  renamed = {}
  for path, v in _flat(params).items():  # stage0/block1/res3x3/conv0/kernel -> stage0_block1/...
    stage, rest = path[0], path[1:]
    renamed[
      (f"{stage}_conv",) + rest[1:] if rest[0] == "conv" else (f"{stage}_{rest[0]}",) + rest[2:]
    ] = v
  imp_params = {"params": traverse_util.unflatten_dict(renamed)}
  assert jax.tree_util.tree_structure(imp_params) == jax.tree_util.tree_structure(
    impala.init(jax.random.PRNGKey(0), x)
  )
  np.testing.assert_allclose(trunk.apply(params, x, {}), impala.apply(imp_params, x), atol=1e-6)


def test_discretize_hand_written_alphas_with_ties():
  space = MacroSpace()
  alphas = {
    "downsample": np.array(
      [
        [0.0, 1.0, 1.0],  # tie avgpool/conv3x3s2 -> avgpool
        [2.0, 0.0, -1.0],  # maxpool
        [0.0, 0.0, 0.0],
      ]
    ),  # all tied -> maxpool
    "blocks": np.array(
      [
        [[0.0, 0.0, 0.0, 3.0], [0.5, 0.7, 0.7, 0.1]],
        [[0.0, 0.0, 0.0, 0.0], [-1.0, -2.0, -0.5, -3.0]],
        [[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.1, 0.1]],
      ]
    ),
  }
  want = _genotype(
    [
      ("avgpool", ["skip", "res5x5"], 16),
      ("maxpool", ["res3x3", "conv3x3relu"], 32),
      ("maxpool", ["res3x3", "conv3x3relu"], 32),
    ]
  )
  want = want.with_space(space.shape())  # discretize records the space's shape
  assert space.discretize(alphas) == want
  assert space.discretize(alphas, k=5, temperature=0.3) == want  # argmax ignores T and k
  wide = MacroSpace(search_width=True)
  walphas = dict(alphas, width=np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 2.0, 2.0]]))
  assert [st.width for st in wide.discretize(walphas).stages] == [16, 64, 32]
  with pytest.raises(ValueError, match="shape"):
    space.discretize(dict(alphas, blocks=np.zeros((3, 3, 4))))
  with pytest.raises(ValueError, match="keys"):
    space.discretize(walphas)


def test_json_round_trip_and_describe():
  text = HAND.to_json()
  d = json.loads(text)
  assert d["format"] == FORMAT == "darts_rl.macro_genotype/1" and "space" not in d
  assert MacroGenotype.from_json(text) == HAND
  stages = [
    "stage0: conv3x3(16) -> avgpool -> res5x5 -> skip",
    "stage1: conv3x3(32) -> conv3x3s2 -> conv3x3relu -> res3x3",
    "stage2: conv3x3(32) -> maxpool -> skip -> res5x5",
  ]
  assert HAND.describe().splitlines() == stages
  # Parsed into a space, the genotype records the space's shape; that round-trips too.
  g = MacroSpace(blocks_per_stage=2, widths=(16, 32, 48)).parse_genotype(d)
  assert g.stages == HAND.stages and g != HAND
  assert json.loads(g.to_json())["space"] == {
    "channels": [16, 32, 32],
    "cells_per_stage": 2,
    "macro_search_width": False,
    "macro_widths": [16, 32, 48],
  }
  assert MacroGenotype.from_json(g.to_json()) == g
  assert (
    g.describe().splitlines()
    == ["space: cells_per_stage=2 channels=16,32,32 macro_search_width=False macro_widths=16,32,48"]
    + stages
  )


def _bad(mutate):
  d = HAND.to_dict()
  mutate(d)
  return d


@pytest.mark.parametrize(
  "space_kw, mutate, message",
  [
    ({}, lambda d: d.update(format="darts_rl.genotype/1"), "format"),
    (
      {},
      lambda d: d["stages"][0].update(downsample="stridedpool"),
      "unknown downsample op 'stridedpool'",
    ),
    ({}, lambda d: d["stages"][1]["blocks"].__setitem__(0, "res7x7"), "unknown block op 'res7x7'"),
    ({}, lambda d: d["stages"].pop(), "2 stages, the space 3"),
    ({}, lambda d: d["stages"][2]["blocks"].append("skip"), "stage 2 has 3 blocks, the space 2"),
    ({}, lambda d: d["stages"][0].update(width=64), "width 64 is not allowed"),
    ({"search_width": True}, lambda d: d["stages"][0].update(width=24), "width 24 is not allowed"),
    (
      {"block_ops": ("res3x3", "conv3x3relu", "skip")},
      lambda d: None,
      r"block ops \['res5x5'\] are not in the space",
    ),
    (
      {"downsample_ops": ("maxpool",)},
      lambda d: None,
      "downsample op 'avgpool' is not in the space",
    ),
    ({}, lambda d: d["stages"][0].pop("width"), "exactly the keys"),
    ({}, lambda d: d["stages"][0].update(width=True), "width must be an int"),
  ],
)
def test_invalid_genotypes_rejected(space_kw, mutate, message):
  with pytest.raises(ValueError, match=message):
    MacroSpace(**space_kw).parse_genotype(_bad(mutate))


def test_invalid_genotype_file_names_the_file(tmp_path):
  path = tmp_path / "genotype.json"
  path.write_text(json.dumps(_bad(lambda d: d["stages"].pop())))
  with pytest.raises(ValueError, match=f"{path}: macro genotype has 2 stages"):
    cfg = encoder_config(kind="fixed", space="macro", genotype=str(path))
    make_encoder(cfg, artifacts.encoder_genotype(cfg))
  with pytest.raises(ValueError, match="format"):  # a micro genotype is not a macro one
    MacroSpace().parse_genotype(
      {"format": "darts_rl.genotype/1", "op_set": [], "num_nodes": 4, "cells": {}}
    )


def test_bad_space_and_partial_channels():
  with pytest.raises(ValueError, match="unknown block ops"):
    MacroSpace(block_ops=("res3x3", "sepconv"))
  with pytest.raises(ValueError, match="partial_channels"):
    MacroSpace().trunk(None, 1.0, partial_channels=2)


def test_gradients_reach_every_alpha():
  spec = make_encoder(
    encoder_config(
      kind="supernet",
      space="macro",
      macro_search_width=True,
      channels=(8, 8, 8),
      macro_widths=(4, 8, 12),
      feature_dim=16,
    )
  )
  obs = _obs(2)
  params = jax.jit(spec.module.init)(jax.random.PRNGKey(3), obs, spec.alphas)
  proj = jax.random.normal(jax.random.PRNGKey(4), (obs.shape[0], 16))
  # Random alphas so no mixture sits at a symmetric point.
  alphas = jax.tree_util.tree_map(
    lambda a: 0.1 * jax.random.normal(jax.random.PRNGKey(a.size), a.shape), spec.alphas
  )
  grads = jax.jit(jax.grad(lambda a: jnp.sum(spec.module.apply(params, obs, a) * proj)))(alphas)
  assert set(grads) == {"downsample", "blocks", "width"}
  for key, g in grads.items():
    g = np.asarray(g)
    assert np.all(np.isfinite(g)), key
    assert np.all(np.abs(g) > 0), (key, g)


def test_sampler_valid_and_covers_every_op():
  space = MacroSpace(search_width=True)
  rng = np.random.default_rng(0)
  seen_down, seen_block, seen_width = set(), set(), set()
  for _ in range(100):
    g = space.sample(rng)
    assert space.parse_genotype(json.loads(g.to_json())) == g
    seen_down |= {st.downsample for st in g.stages}
    seen_block |= {op for st in g.stages for op in st.blocks}
    seen_width |= {st.width for st in g.stages}
  assert seen_down == set(DOWNSAMPLE_OPS) and seen_block == set(BLOCK_OPS)
  assert seen_width == {16, 32, 64}
  fixed_width = MacroSpace().sample(np.random.default_rng(1))
  assert [st.width for st in fixed_width.stages] == [16, 32, 32]
  # Seeded: same seed twice gives the same genotypes, two seeds differ.
  draw = lambda seed: [space.sample(np.random.default_rng(seed)) for _ in range(1)]
  assert draw(5) == draw(5) and draw(5) != draw(6)


def test_width_masking():
  config = encoder_config(kind="supernet", space="macro", macro_search_width=True)
  space = make_space(config)
  assert space.search_width and space.widths == (16, 32, 64)
  spec = make_encoder(config)
  assert spec.alphas["width"].shape == (3, 3)
  obs = _obs(3)
  params = spec.module.init(jax.random.PRNGKey(5), obs, spec.alphas)
  assert spec.module.apply(params, obs, spec.alphas).shape == (2, 256)
  assert "width/stage2/w64" in space.mixing_summary(spec.alphas)
  # Trunk level: a one-hot width zeroes the channels >= w, and equals a real width-w network
  # whose params are the supernet's sliced to shape.
  g = _genotype(
    [
      ("conv3x3s2", ["res3x3", "res5x5"], 32),
      ("avgpool", ["conv3x3relu", "skip"], 16),
      ("maxpool", ["res3x3", "conv3x3relu"], 32),
    ]
  )
  sup, fixed = space.trunk(), space.trunk(g)
  x = obs.astype(jnp.float32) / 255.0
  sup_params = sup.init(jax.random.PRNGKey(6), x, spec.alphas)
  out = sup.apply(sup_params, x, _one_hot_alphas(space, g))
  assert out.shape == (2, 8, 8, 64)
  assert float(jnp.abs(out[..., 32:]).max()) == 0.0
  assert float(jnp.abs(out[..., :32]).max()) > 0.0
  fixed_params = _copy_subset(
    sup_params, fixed.init(jax.random.PRNGKey(7), x, {}), slice_to_shape=True
  )
  want = fixed.apply(fixed_params, x, {})
  assert want.shape == (2, 8, 8, 32)
  np.testing.assert_allclose(out[..., :32], want, atol=1e-5)
