"""make_encoder(config): the one way an agent gets its image encoder.

An encoder is a Flax module called as `module(obs_uint8 [B, H, W, C], alphas) -> [B, D]` plus
its initial alphas pytree. Fixed encoders (impala, cnn4, fixed genotype) get `{}` and ignore it,
so agents never know which encoder they have.
"""
import json
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax.numpy as jnp

from darts_rl.networks import baselines
from darts_rl.networks.heads import FeatureHead
from darts_rl.search import robustness
from darts_rl.search.macro import MacroSpace
from darts_rl.search.spaces import MicroSpace

ENCODERS = ("impala", "cnn4", "supernet", "fixed")
SPACES = ("micro", "macro")


class Encoder(nn.Module):
  """uint8 obs -> float in [0, 1] -> trunk(x, alphas) -> head."""
  trunk: nn.Module
  head: nn.Module

  def __call__(self, obs, alphas):
    x = obs.astype(jnp.float32) / 255.0
    return self.head(self.trunk(x, alphas))


class EncoderSpec(NamedTuple):
  module: nn.Module
  alphas: Any                      # initial architecture weights ({} for fixed encoders)
  space: Optional[Any] = None      # the search space (MicroSpace / MacroSpace) when searchable
  genotype: Optional[Any] = None   # the genotype a fixed encoder was built from


def make_space(config):
  """The search space named by the encoder config."""
  if config.space == "macro":
    return MacroSpace(channels=tuple(config.channels), blocks_per_stage=config.cells_per_stage,
                      search_width=config.macro_search_width, widths=tuple(config.macro_widths))
  if config.space != "micro":
    raise ValueError(f"unknown search space '{config.space}'; valid spaces: {', '.join(SPACES)}")
  return MicroSpace(skeleton=config.skeleton, op_names=config.op_set,
                    channels=tuple(config.channels), cells_per_stage=config.cells_per_stage,
                    num_nodes=config.num_nodes, stem_channels=config.stem_channels,
                    stem_stride=config.stem_stride, node_norm=config.node_norm)


def load_genotype(space, path: str):
  """Reads genotype.json and checks it fits `space`; ValueError naming the file otherwise."""
  if not path:
    raise ValueError("encoder.kind=fixed needs --config.encoder.genotype=PATH/genotype.json")
  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    raise ValueError(f"cannot read genotype file {path}: {e.strerror}") from None
  try:
    d = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: genotype is not valid JSON: {e}") from None
  try:
    return space.parse_genotype(d)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None


def make_encoder(config, genotype=None, arch=None) -> EncoderSpec:
  """config: the `encoder` ConfigDict. `fixed` reads `config.genotype` (a path) unless a
  Genotype is given. `arch` (the `arch` ConfigDict) adds the entries its robustness options
  need to a supernet's alphas and space (darts_rl/search/robustness.py); fixed encoders ignore
  it. Raises ValueError with one clear line on bad input."""
  kind = config.kind
  head = FeatureHead(config.head, config.feature_dim)
  if kind == "impala":
    trunk = baselines.ImpalaTrunk(tuple(config.channels), config.cells_per_stage)
    return EncoderSpec(Encoder(trunk, head), {})
  if kind == "cnn4":
    return EncoderSpec(Encoder(baselines.CNN4Trunk(config.channels[0]), head), {})
  if kind == "supernet":
    p = config.partial_channels
    if p < 1 or any(ch % p for ch in config.channels):
      raise ValueError(f"encoder.partial_channels={p} must be >= 1 and divide every stage's "
                       f"channels {tuple(config.channels)}")
    space = make_space(config)
    options = None if arch is None else robustness.SearchOptions.from_config(arch)
    extras = robustness.init_extras(space, options, config.temperature)
    if extras:
      space = robustness.OptionSpace(space, extras)
    trunk = space.trunk(None, config.temperature, config.partial_channels)
    return EncoderSpec(Encoder(trunk, head), space.init_alphas(), space=space)
  if kind == "fixed":
    space = make_space(config)
    if genotype is None:
      genotype = load_genotype(space, config.genotype)
    return EncoderSpec(Encoder(space.trunk(genotype), head), {}, space=space, genotype=genotype)
  raise ValueError(f"unknown encoder kind '{kind}'; valid kinds: {', '.join(ENCODERS)}")
