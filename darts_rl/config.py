"""Building blocks for experiment configs (experiments/*.py compose these).

Each block is an ml_collections.ConfigDict with one comment per field; experiment files set
values, launchers lock the result so a misspelt `--config.x=` override fails loudly.
"""
import ml_collections

PHASES = ("search", "evaluate", "baseline")
SIZES = ("full", "smoke", "demo")


def parse_variant(arg, flags=()):
  """'PHASE[,SIZE][,FLAG...]' -> (phase, size, set of flags), e.g. 'search,smoke,multi'.

  PHASE: search (supernet) | evaluate (fixed genotype) | baseline (hand-designed encoder);
  SIZE: full (the paper's settings) | smoke (seconds) | demo (minutes)."""
  tokens = [t for t in (arg or "search").split(",") if t]
  phase = [t for t in tokens if t in PHASES]
  size = [t for t in tokens if t in SIZES]
  unknown = [t for t in tokens if t not in PHASES + SIZES + tuple(flags)]
  if unknown or len(phase) > 1 or len(size) > 1:
    extra = "".join(f"[,{f}]" for f in flags)
    raise ValueError(f"bad config variant '{arg}': use PHASE[,SIZE]{extra} with PHASE in "
                     f"{'/'.join(PHASES)} and SIZE in {'/'.join(SIZES)}")
  return (phase or ["search"])[0], (size or ["full"])[0], {t for t in tokens if t in flags}


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
  # Macro space (reuses channels; cells_per_stage = block slots): also search stage widths.
  c.macro_search_width = False
  # Macro space: candidate stage widths when macro_search_width (the supernet runs at the max).
  c.macro_widths = (16, 32, 64)
  c.update(overrides)
  return c


def adam_config(lr: float, eps: float = 1e-8, max_grad_norm: float = 0.0):
  c = ml_collections.ConfigDict()
  # Adam learning rate and epsilon.
  c.lr = lr
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
  # second_order: learning rate xi of the virtual weight step (0 = arch.optimizer.lr, which is
  # the weight lr by default, as in DARTS).
  c.unrolled_lr = 0.0
  # Optimizer of the architecture weights. The paper uses the weight optimizer (same Adam, lr,
  # eps and clipping): this copy says so explicitly; override --config.arch.optimizer.lr=...
  c.optimizer = weight_optimizer.copy_and_resolve_references()
  # Edges kept per node when discretizing (node 0 has one candidate and keeps 1).
  c.discretize_k = 2
  # Collapse monitor (RobustDARTS): dominant Hessian eigenvalue of the loss w.r.t. the alphas
  # every N arch updates (0 = off), by power iteration with this many Hessian-vector products.
  c.eigen_every_updates = 0
  c.eigen_iterations = 10
  # RobustDARTS early stopping: freeze the alphas once the mean eigenvalue of the last
  # `early_stop_window` probes exceeds that of the window before by more than 1 / ratio.
  c.early_stop = False
  c.early_stop_window = 5
  c.early_stop_ratio = 0.75
  # Mixing temperature: constant (encoder.temperature) | linear | exponential from
  # encoder.temperature to temperature_end over the search.
  c.temperature_schedule = "constant"
  c.temperature_end = 1.0
  # beta-DARTS Beta-Decay: weight of mean logsumexp(alpha) at the end (rises linearly from 0).
  c.beta_decay = 0.0
  # DARTS-: initial weight of an auxiliary skip on every edge, decaying linearly to 0 (0 = off).
  c.aux_skip = 0.0
  # SDARTS random smoothing: the weight step sees alphas + U[-eps, eps] (0 = off).
  c.smoothing_eps = 0.0
  # PC-DARTS edge normalization: uniform (1 per edge; PC-DARTS: the mean) | learned.
  c.edge_weights = "uniform"
  return c


def loop_config(total_env_steps: int) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Training budget in env steps (agent decisions summed over envs).
  c.total_env_steps = total_env_steps
  # Log metrics / alphas, quick-evaluate, checkpoint every N env steps (0 = only at the end).
  c.log_every_env_steps = max(1, total_env_steps // 100)
  c.eval_every_env_steps = 0
  c.checkpoint_every_env_steps = max(1, total_env_steps // 20)
  # Final evaluation: episodes per split, splits ('train' levels, 'test' = unseen levels).
  c.eval_episodes = 64
  c.eval_splits = ("train", "test")
  # Safety cap on evaluation length, in env steps summed over eval envs.
  c.eval_max_env_steps = 200_000
  # Write TensorBoard events to WORKDIR/tb.
  c.tensorboard = True
  return c


def procgen_config(game: str = "starpilot", num_envs: int = 64) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.kind = "procgen"
  # One or more games (several = multi-game: envs split evenly, game id carried along).
  c.games = (game,)
  c.num_envs = num_envs
  # Training levels (test split: all levels, num_levels=0).
  c.num_levels = 200
  c.start_level = 0
  c.distribution_mode = "easy"
  return c
