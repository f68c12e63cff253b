"""Building blocks for experiment configs (experiments/*.py compose these).

Each block is an ml_collections.ConfigDict with one comment per field; experiment files set
values, launchers lock the result so a misspelt `--config.x=` override fails loudly.
"""

import ml_collections
from ml_collections.config_dict import placeholder

PHASES = ("search", "evaluate", "baseline")
# full: the paper's settings; smoke: seconds, every code path; demo: minutes on 2 CPU cores;
# cpu: the learning evidence of experiments/results/ (about an hour of one CPU core per run).
SIZES = ("full", "smoke", "demo", "cpu")
# Encoder fields that fix a search space's shape (MicroSpace / MacroSpace SHAPE_FIELDS, and
# which space): a genotype records them, so evaluate configs leave them unset.
SPACE_SHAPE_FIELDS = (
  "space",
  "skeleton",
  "op_set",
  "num_nodes",
  "channels",
  "cells_per_stage",
  "stem_channels",
  "stem_stride",
  "stem_padding",
  "node_norm",
  "macro_search_width",
  "macro_widths",
)


def parse_variant(arg, flags=()):
  """'PHASE[,SIZE][,FLAG...]' -> (phase, size, set of flags), e.g. 'search,smoke,multi'.

  PHASE: search (supernet) | evaluate (fixed genotype) | baseline (hand-designed encoder);
  SIZE: full (the paper's settings) | smoke (seconds) | demo (minutes) | cpu (the CPU
  evidence runs)."""
  tokens = [t for t in (arg or "search").split(",") if t]
  phase = [t for t in tokens if t in PHASES]
  size = [t for t in tokens if t in SIZES]
  unknown = [t for t in tokens if t not in PHASES + SIZES + tuple(flags)]
  if unknown or len(phase) > 1 or len(size) > 1:
    extra = "".join(f"[,{f}]" for f in flags)
    raise ValueError(
      f"bad config variant '{arg}': use PHASE[,SIZE]{extra} with PHASE in "
      f"{'/'.join(PHASES)} and SIZE in {'/'.join(SIZES)}"
    )
  return (phase or ["search"])[0], (size or ["full"])[0], {t for t in tokens if t in flags}


def encoder_config(**overrides) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # impala | cnn4 | supernet (DARTS search) | fixed (a genotype, retrained from scratch).
  c.kind = "impala"
  # Search space of supernet/fixed: micro (DARTS cells in a skeleton) | macro (per-stage choices).
  c.space = "micro"
  # Micro-space skeleton for supernet/fixed: impala (cells replace residual blocks) | standard.
  c.skeleton = "impala"
  # Op set: 'base', 'classic', or op names comma-separated (Conv3x3,Relu,Zero; see
  # darts_rl.search.ops.OPS).
  c.op_set = "base"
  # Channels per stage (IMPALA-CNN: 16, 32, 32).
  c.channels = (16, 32, 32)
  # Cells (or residual blocks for impala) per stage.
  c.cells_per_stage = 2
  # Intermediate nodes per cell.
  c.num_nodes = 4
  # Channels of a stem conv before the stages (0 = no stem; the standard skeleton needs one).
  c.stem_channels = 0
  # Stride of the stem conv.
  c.stem_stride = 1
  # Stem conv padding: SAME | VALID (the SAC release's DARTS encoder).
  c.stem_padding = "SAME"
  # Per-node LayerNorm in cells (the released code's batch norm was effectively identity).
  c.node_norm = False
  # Softmax temperature of the mixing weights.
  c.temperature = 1.0
  # PC-DARTS partial-channel mixing: mix 1/P of the channels on each edge (1 = exact DARTS).
  c.partial_channels = 1
  # Cell edges leaving one state run as one wider conv per kernel shape, in the supernet and
  # in a genotype's fixed cells (False: per edge; the same parameters and numbers).
  c.fused_edges = True
  # Compute dtype of the encoder's convs and dense layers: float32 | bfloat16 (params stay f32).
  c.compute_dtype = "float32"
  # Feature head after the trunk: impala (ReLU-Dense-ReLU) | sac (Dense-LayerNorm).
  c.head = "impala"
  # Width of the feature head's Dense layer: the features the agent's heads read.
  c.feature_dim = 256
  # Norm of the trunk's output before the head: none | frn (FilterResponseNorm + TLU).
  c.head_norm = "none"
  # cnn4: what follows each conv: frn (FilterResponseNorm + TLU) | relu.
  c.cnn4_activation = "frn"
  # Path of genotype.json for kind=fixed.
  c.genotype = ""
  # Macro space (reuses channels; cells_per_stage = block slots): also search stage widths.
  c.macro_search_width = False
  # Macro space: candidate stage widths when macro_search_width (the supernet runs at the max).
  c.macro_widths = (16, 32, 64)
  c.update(overrides)
  return c


def leave_shape_to_genotype(encoder: ml_collections.ConfigDict):
  """Evaluate configs: the space-shape fields become unset placeholders (null in config.json),
  so a fixed encoder takes them from its genotype; a value set on the command line must equal
  the genotype's (darts_rl.networks.space_config)."""
  for k in SPACE_SHAPE_FIELDS:
    encoder[k] = placeholder(type(encoder[k]))


def adam_config(lr: float, eps: float = 1e-8, max_grad_norm: float = 0.0):
  c = ml_collections.ConfigDict()
  # Adam learning rate.
  c.lr = lr
  # Adam epsilon (added to the root of the second moment).
  c.eps = eps
  # Global-norm gradient clipping (0 = none).
  c.max_grad_norm = max_grad_norm
  return c


def arch_config(weight_optimizer) -> ml_collections.ConfigDict:
  """Alpha updates and the robustness options (docs/robust_search.md); all off by default."""
  c = ml_collections.ConfigDict()
  # joint (the paper: same loss, same minibatch, one gradient) | alternating (first-order
  # DARTS: the alpha step uses a different minibatch than the weight step) | second_order
  # (DARTS: the alpha gradient through one virtual weight step, on the alternating minibatches).
  c.mode = "joint"
  # Optimizer of the architecture weights. The paper uses the weight optimizer (same Adam, lr,
  # eps and clipping): these fields copy it explicitly.
  c.optimizer = ml_collections.ConfigDict()
  # Adam learning rate of the alphas (default: the weight optimizer's).
  c.optimizer.lr = weight_optimizer.lr
  # Adam epsilon of the alphas (default: the weight optimizer's).
  c.optimizer.eps = weight_optimizer.eps
  # Global-norm clipping of the alpha gradients (0 = none; default: the weight optimizer's).
  c.optimizer.max_grad_norm = weight_optimizer.max_grad_norm
  # Joint mode: clip weight and alpha gradients together by the weight optimizer's global norm
  # (as released: one optimizer over every trainable variable); False: each pytree by its own
  # optimizer's max_grad_norm.
  c.clip_together = True
  # Edges kept per node when discretizing (node 0 has one candidate and keeps 1).
  c.discretize_k = 2
  # Collapse monitor (RobustDARTS): top Hessian eigenvalue of the loss w.r.t. the alphas every
  # N arch updates (0 = off).
  c.eigen_every_updates = 0
  # Lanczos steps (Hessian-vector products) per eigenvalue probe.
  c.eigen_iterations = 10
  # RobustDARTS early stopping: once the local average of the eigenvalue rises by more than
  # 1 / early_stop_ratio over early_stop_lag probes, restore and freeze the earlier alphas.
  c.early_stop = False
  # Probes per local average (RobustDARTS's window).
  c.early_stop_window = 5
  # Probes between the two local averages compared (RobustDARTS's delta).
  c.early_stop_lag = 4
  # Stop when local average (i - lag) < ratio x local average (i).
  c.early_stop_ratio = 0.75
  # Share of the search's arch updates before which no rollback point counts (RobustDARTS:
  # 10 of 50 epochs).
  c.early_stop_warmup = 0.2
  # DARTS-ADA (RobustDARTS): the weights' initial L2 factor, multiplied by adaptive_l2_factor at
  # each early-stopping trigger, which restores the earlier alphas and goes on (0 = off; 3e-4).
  c.adaptive_l2 = 0.0
  # DARTS-ADA: the L2 factor's multiplier at each trigger (RobustDARTS's mul_factor: 10).
  c.adaptive_l2_factor = 10.0
  # DARTS-ADA: the largest L2 factor, start x factor^k; there triggers are ignored (3e-2).
  c.adaptive_l2_max = 3e-2
  # Mixing temperature: constant (encoder.temperature) | linear | exponential from
  # encoder.temperature to temperature_end over the search.
  c.temperature_schedule = "constant"
  # Mixing temperature at the end of the search (linear and exponential schedules).
  c.temperature_end = 1.0
  # beta-DARTS Beta-Decay: weight of mean logsumexp(alpha) at the end (rises linearly from 0).
  c.beta_decay = 0.0
  # DARTS-: initial weight of an auxiliary skip on every edge, decaying linearly to 0 (0 = off).
  c.aux_skip = 0.0
  # SDARTS random smoothing: the weight step sees the mixing weights + U[-eps, eps], eps ramped
  # from 0.03 to this value over the search (SDARTS: 0.3; 0 = off).
  c.smoothing_eps = 0.0
  # ScheduledDropPath (RobustDARTS's remedy): the weight step drops each edge's output per
  # sample with a probability rising linearly to this value over the search (RobustDARTS: 0.2;
  # 0 = off).
  c.drop_path = 0.0
  # PC-DARTS edge normalization: uniform (1 per edge; PC-DARTS: the mean) | learned.
  c.edge_weights = "uniform"
  return c


# Variant flag of the experiments (`search,cpu,robust`): options against collapse, on together.
ROBUST = "robust"


def robust_options(arch):
  """The `robust` variant: beta-DARTS's Beta-Decay (lambda rising to 1), SDARTS random
  smoothing with its ramp (eps 0.03 -> 0.3) and RobustDARTS early stopping with its defaults
  (which needs the monitor: the experiment sets its cadence). Each is also one flag alone
  (docs/robust_search.md lists them)."""
  arch.beta_decay = 1.0
  arch.smoothing_eps = 0.3
  arch.early_stop = True


def loop_config(total_env_steps: int) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Training budget in env steps (agent decisions summed over all envs of the run: every
  # device of every process).
  c.total_env_steps = total_env_steps
  # Log metrics / alphas every N env steps (0: num_logs times per run).
  c.log_every_env_steps = 0
  # Log steps per run when log_every_env_steps is 0, spread over the budget when the run
  # starts (so --config.loop.total_env_steps=... moves the cadence with it).
  c.num_logs = 100
  # Quick evaluation every N env steps (0 = only the final evaluation).
  c.eval_every_env_steps = 0
  # Checkpoint every N env steps (0: num_checkpoints times per run).
  c.checkpoint_every_env_steps = 0
  # Checkpoints per run when checkpoint_every_env_steps is 0, spread over the budget.
  c.num_checkpoints = 20
  # Final evaluation: episodes per split.
  c.eval_episodes = 64
  # Final evaluation: the splits ('train' levels, 'test' = unseen levels, 'validation' =
  # held-out levels that best-of-N selection reads, so test stays unpeeked).
  c.eval_splits = ("train", "test", "validation")
  # Safety cap on evaluation length, in env steps summed over eval envs.
  c.eval_max_env_steps = 200_000
  # Env rows per acting call in evaluation, per device; only the rows of envs that still owe
  # episodes are computed (the same actions whatever the value, up to float summation order).
  # 0: auto (XLA:CPU: a quarter of a device's eval envs, at least 8; accelerators: all).
  c.eval_batch = 0
  # Actors and learner at the same time: on | off | auto (on where jax runs on an accelerator).
  # On: the envs step with the parameters of one iteration earlier while the learner updates.
  c.overlap = "auto"
  # Write TensorBoard events to WORKDIR/tb.
  c.tensorboard = True
  # Also log every metrics row to Weights & Biases (pip install -e .[wandb]; process 0 only;
  # local files in WORKDIR/wandb, WANDB_MODE=offline keeps them there). Off by default.
  c.wandb = False
  # W&B project the runs are logged to.
  c.wandb_project = "darts-rl"
  # W&B entity: team or user (empty: your default entity).
  c.wandb_entity = ""
  return c


def procgen_config(game: str = "starpilot", num_envs: int = 64) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Environment: procgen | dmc (darts_rl/envs).
  c.kind = "procgen"
  # One or more games (several = multi-game: envs split evenly, game id carried along).
  c.games = (game,)
  # Envs of the whole run (all devices of all processes together), split evenly into one env
  # group per device (several games: each group split evenly over them).
  c.num_envs = num_envs
  # Procgen worker threads per env instance (0: this process's cores shared by its instances).
  c.num_threads = 0
  # Training levels: how many (the test split plays all levels, num_levels=0).
  c.num_levels = 200
  # Training levels: the first one.
  c.start_level = 0
  # Validation levels (the split best-of-N selection reads): a fixed range disjoint from the
  # training levels. Far above them so any training range below 10^6 stays disjoint; 1000
  # levels so 64-256 episodes mostly meet distinct levels; the test split draws from all 2^31
  # levels, so it meets this range with probability ~5e-7 per episode.
  c.validation_start_level = 1_000_000
  # Validation levels: how many (1000, so 64-256 episodes mostly meet distinct levels).
  c.validation_num_levels = 1_000
  # Procgen difficulty: easy (the paper) | hard | extreme | memory.
  c.distribution_mode = "easy"
  return c
