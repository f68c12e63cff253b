"""Building blocks for experiment configs (experiments/*.py compose these).

Each block is an ml_collections.ConfigDict with one comment per field; experiment files set
values, launchers lock the result so a misspelt `--config.x=` override fails loudly.
"""
import ml_collections


def encoder_config(**overrides) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # impala | cnn4 | supernet (DARTS search) | fixed (a genotype, retrained from scratch).
  c.kind = "impala"
  # Search space of supernet/fixed: micro (DARTS cells in a skeleton) | macro (per-stage choices).
  c.space = "micro"
  # Micro-space skeleton for supernet/fixed: impala (cells replace residual blocks) | standard.
  c.skeleton = "impala"
  # Op set: 'base', 'classic', or a list of op names (darts_rl.search.ops.OPS).
  c.op_set = "base"
  # Channels per stage (IMPALA-CNN: 16, 32, 32).
  c.channels = (16, 32, 32)
  # Cells (or residual blocks for impala) per stage.
  c.cells_per_stage = 2
  # Intermediate nodes per cell.
  c.num_nodes = 4
  # Stem conv before the stages (0 = none; the standard skeleton needs one).
  c.stem_channels = 0
  c.stem_stride = 1
  # Per-node LayerNorm in cells (the released code's batch norm was effectively identity).
  c.node_norm = False
  # Softmax temperature of the mixing weights.
  c.temperature = 1.0
  # PC-DARTS partial-channel mixing: mix 1/P of the channels on each edge (1 = exact DARTS).
  c.partial_channels = 1
  # Feature head: impala (ReLU-Dense-ReLU) | sac (Dense-LayerNorm); and its width.
  c.head = "impala"
  c.feature_dim = 256
  # Path of genotype.json for kind=fixed.
  c.genotype = ""
  c.update(overrides)
  return c
