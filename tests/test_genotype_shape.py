"""A genotype records its space's shape; evaluate configs take it from the genotype."""

import importlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl import artifacts, random_search
from darts_rl import config as blocks
from darts_rl.networks import make_encoder
from darts_rl.networks.space_config import make_space, unset_fields
from darts_rl.search.genotype import Genotype
from darts_rl.search.macro import MacroGenotype, MacroSpace, StageGene
from darts_rl.search.spaces import MicroSpace

EXPERIMENTS = ("ppo_procgen", "rainbow_procgen", "sac_dmc", "ppo_procgen_macro")
CLASSIC = [
  "Conv3x3Relu",
  "DilConv3x3Relu",
  "Conv5x5Relu",
  "DilConv5x5Relu",
  "SkipConnection",
  "Zero",
]
# A search space unlike every default: op set, nodes, channels, cells, stem.
SEARCH = dict(
  op_set="classic",
  num_nodes=3,
  channels=(4, 8),
  cells_per_stage=1,
  stem_channels=4,
  stem_stride=2,
  stem_padding="VALID",
  node_norm=True,
)
SEARCH_SPACE = {
  "skeleton": "impala",
  "channels": [4, 8],
  "cells_per_stage": 1,
  "stem_channels": 4,
  "stem_stride": 2,
  "stem_padding": "VALID",
  "node_norm": True,
}


def _evaluate_config(path, module="ppo_procgen", **overrides):
  c = importlib.import_module(f"experiments.{module}").get_config("evaluate,smoke").encoder
  c.genotype = str(path)
  c.update(overrides)
  return c


def _fixed(encoder):
  """The fixed encoder of an encoder config, its genotype read as a run reads it."""
  return make_encoder(encoder, artifacts.encoder_genotype(encoder))


def _write(tmp_path, genotype_dict, name="genotype.json"):
  path = tmp_path / name
  path.write_text(json.dumps(genotype_dict))
  return path


def _searched(tmp_path):
  """A genotype sampled from the SEARCH space, written as genotype.json."""
  space = make_space(blocks.encoder_config(kind="supernet", **SEARCH))
  g = space.sample(np.random.default_rng(0))
  return space, g, _write(tmp_path, g.to_dict())


def test_shape_fields_are_the_spaces():
  assert set(blocks.SPACE_SHAPE_FIELDS) == (
    {"space"} | set(MicroSpace.SHAPE_FIELDS) | set(MacroSpace.SHAPE_FIELDS)
  )


@pytest.mark.parametrize("module", EXPERIMENTS)
def test_evaluate_configs_leave_the_shape_to_the_genotype(module):
  get_config = importlib.import_module(f"experiments.{module}").get_config
  for size in blocks.SIZES:
    ev = get_config(f"evaluate,{size}").encoder
    unset = {k for k in blocks.SPACE_SHAPE_FIELDS if ev[k] is None}
    # The macro experiment names its space; everything else comes from the genotype.
    assert unset == set(blocks.SPACE_SHAPE_FIELDS) - (
      {"space"} if module.endswith("macro") else set()
    ), (size, unset)
    assert unset_fields(get_config(f"search,{size}").encoder) == []


def test_discretize_and_sample_record_the_space():
  space = make_space(blocks.encoder_config(kind="supernet", **SEARCH))
  for g in (space.sample(np.random.default_rng(1)), space.discretize(space.init_alphas())):
    d = json.loads(g.to_json())
    assert d["op_set"] == CLASSIC and d["num_nodes"] == 3 and d["space"] == SEARCH_SPACE
    assert Genotype.from_json(g.to_json()) == g
    assert g.shape() == space.shape()
    assert g.describe().splitlines()[0] == (
      "space: cells_per_stage=1 channels=4,8 node_norm=True num_nodes=3 op_set="
      + ",".join(CLASSIC)
      + " skeleton=impala stem_channels=4 stem_padding=VALID "
      "stem_stride=2"
    )


def test_evaluate_needs_only_the_genotype(tmp_path):
  space, g, path = _searched(tmp_path)
  spec = _fixed(_evaluate_config(path))
  assert spec.space == space and spec.genotype == g
  # The same trunk as the fixed encoder of the search config (the head is the experiment's).
  fixed = _fixed(blocks.encoder_config(kind="fixed", genotype=str(path), **SEARCH))
  obs = jnp.zeros((1, 64, 64, 3), jnp.uint8)
  trunk = lambda s: jax.tree.map(
    lambda x: x.shape, jax.eval_shape(s.module.init, jax.random.PRNGKey(0), obs, {})
  )["params"]["trunk"]
  assert trunk(spec) == trunk(fixed) and trunk(spec)["stem"]["kernel"] == (3, 3, 3, 4)
  # Values that agree with the genotype's are no conflict (the op set by name too).
  assert _fixed(_evaluate_config(path, op_set="classic", channels=(4, 8))).space == space


@pytest.mark.parametrize(
  "override,message",
  [
    (
      {"channels": (8, 16)},
      "encoder.channels=(8, 16) conflicts with the genotype's channels [4, 8]",
    ),
    ({"op_set": "base"}, "encoder.op_set='base' conflicts with the genotype's op_set"),
    (
      {"stem_padding": "SAME"},
      "encoder.stem_padding='SAME' conflicts with the genotype's stem_padding 'VALID'",
    ),
    ({"space": "macro"}, "encoder.space='macro' conflicts with the genotype's space 'micro'"),
  ],
)
def test_a_conflicting_field_is_one_error_naming_the_file(tmp_path, override, message):
  _, _, path = _searched(tmp_path)
  with pytest.raises(ValueError) as e:
    _fixed(_evaluate_config(path, **override))
  assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
  assert "\n" not in str(e.value)


def test_old_micro_genotype_takes_the_config_values(tmp_path):
  space, g, _ = _searched(tmp_path)
  old = g.to_dict()
  del old["space"]  # as written before genotypes recorded their space
  path = _write(tmp_path, old, "old.json")
  with pytest.raises(
    ValueError,
    match="does not record skeleton, channels, cells_per_stage, "
    "stem_channels, stem_stride, stem_padding, node_norm "
    ".*--config.encoder.skeleton=...",
  ):
    _fixed(_evaluate_config(path))
  rest = {k: v for k, v in SEARCH.items() if k not in ("op_set", "num_nodes")}
  spec = _fixed(_evaluate_config(path, skeleton="impala", **rest))
  assert spec.space == space and spec.genotype == g  # the spec records the resolved shape
  # op_set and num_nodes were always recorded: still checked.
  with pytest.raises(ValueError, match="encoder.num_nodes=4 conflicts"):
    _fixed(_evaluate_config(path, skeleton="impala", num_nodes=4, **rest))


def test_old_macro_genotype_takes_the_config_values(tmp_path):
  g = MacroGenotype(tuple(StageGene("maxpool", ("res3x3",), w) for w in (4, 8)))
  path = _write(tmp_path, g.to_dict())
  assert "space" not in json.loads(path.read_text())
  with pytest.raises(
    ValueError, match="does not record channels, cells_per_stage, macro_search_width, macro_widths"
  ):
    _fixed(_evaluate_config(path, "ppo_procgen_macro"))
  spec = _fixed(
    _evaluate_config(
      path,
      "ppo_procgen_macro",
      channels=(4, 8),
      cells_per_stage=1,
      macro_search_width=False,
      macro_widths=(4, 8),
    )
  )
  assert spec.genotype.shape() == {
    "channels": [4, 8],
    "cells_per_stage": 1,
    "macro_search_width": False,
    "macro_widths": [4, 8],
  }
  # A macro genotype in a micro experiment: the space is taken from it (and named on conflict).
  new = _write(tmp_path, spec.genotype.to_dict(), "new.json")
  assert _fixed(_evaluate_config(new)).space == spec.space


@pytest.mark.parametrize(
  "mutate,message",
  [
    (lambda d: d["space"].update(chanels=[4, 8]), "unknown space field 'chanels'"),
    (lambda d: d["space"].update(op_set=CLASSIC), "must not repeat op_set"),
    (lambda d: d["space"].update(channels=4), "bad search-space shape"),
    (lambda d: d.update(space=[1, 2]), "'space' must be an object"),
    (lambda d: d.update(format="darts_rl.genotype/9"), "expected one of"),
  ],
)
def test_bad_recorded_space(tmp_path, mutate, message):
  _, g, _ = _searched(tmp_path)
  d = g.to_dict()
  mutate(d)
  with pytest.raises(ValueError, match=message):
    _fixed(_evaluate_config(_write(tmp_path, d, "bad.json")))


def test_random_search_needs_a_search_config(tmp_path):
  from experiments.ppo_procgen import get_config

  with pytest.raises(
    ValueError,
    match=r"but encoder.space, encoder.skeleton, .* are unset .* "
    r"use the search config, e.g. "
    r"--config=experiments/ppo_procgen.py:search",
  ):
    random_search.run(get_config("evaluate,smoke"), str(tmp_path / "r"), 1)
  assert not (tmp_path / "r").exists()
  search = get_config("search,smoke")
  g = random_search.trial_genotype(search, 0)
  assert g.shape() == make_space(search.encoder).shape()
  tc = random_search.trial_config(search, str(tmp_path / "r"), 0)
  assert tc.encoder.kind == "fixed" and tc.encoder.channels == search.encoder.channels
