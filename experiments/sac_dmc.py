"""RL-DARTS with SAC on DM-Control from pixels (docs/paper.md), one task.

Variants (comma-separated: a phase and a size):
  phase: search (supernet, default) | evaluate (fixed genotype) | baseline (the 4-layer CNN)
  size:  full (the paper: the task's released budget) | smoke (seconds) | demo (minutes) |
         cpu (experiments/results/sac_cartpole_cpu: under an hour of one CPU core per run)

  python launch/search.py --config=experiments/sac_dmc.py:search --workdir=/tmp/s
  python launch/discretize.py --workdir=/tmp/s
  python launch/evaluate.py --config=experiments/sac_dmc.py:evaluate \
      --config.encoder.genotype=/tmp/s/genotype.json --workdir=/tmp/e
  python launch/evaluate.py --config=experiments/sac_dmc.py:baseline --workdir=/tmp/b

Other tasks: --config.env.task=walker-walk; at the full size the action repeat, initial random
steps and env steps follow the task as released (darts_rl.envs.RELEASED) unless set.
Env steps are agent decisions (frames = env steps x action repeat), as the released code
counts them: one gradient update per env step.
"""

import ml_collections

from darts_rl import config as blocks


def dmc_config(task: str = "cartpole-swingup", num_envs: int = 1) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Environment: procgen | dmc (darts_rl/envs).
  c.kind = "dmc"
  # 'domain-task' (darts_rl.envs.dmc_tasks()).
  c.task = task
  # Envs of the whole run (all devices of all processes), split evenly over the devices;
  # each renders its own frames.
  c.num_envs = num_envs
  # 0 = the task's released value (darts_rl.envs.DEFAULT_ACTION_REPEAT: cartpole 4, finger 1,
  # walker 2, ...).
  c.action_repeat = 0
  # Frames stacked per observation (obs: size x size x 3*stack, uint8).
  c.frame_stack = 3
  # Rendered frame size in pixels (square).
  c.image_size = 84
  # Camera rendered (unset: 0, or 2 for quadruped).
  c.camera_id = ml_collections.config_dict.placeholder(int)
  # Episode length in simulated seconds (unset: the suite's, 1000 control steps).
  c.time_limit = ml_collections.config_dict.placeholder(float)
  return c


def get_config(arg=None) -> ml_collections.ConfigDict:
  phase, size, flags = blocks.parse_variant(arg, (blocks.ROBUST,))
  c = ml_collections.ConfigDict()
  # Seed of everything (params, envs, sampling); two seeds give different runs.
  c.seed = 0
  # Agent name (darts_rl.agents.AGENTS).
  c.agent = "sac"
  c.env = dmc_config("cartpole-swingup", num_envs=1)
  # search: DARTS supernet (conv 32 stride 2, one IMPALA-skeleton stage of 32 channels with two
  # normal cells, base op set); evaluate: the discretized cell; baseline: the 4-layer CNN.
  # All end in Dense(50) -> LayerNorm.
  if phase == "baseline":
    c.encoder = blocks.encoder_config(kind="cnn4", channels=(32,), head="sac", feature_dim=50)
    # FRN + TLU after each conv, as released (relu: the SAC-AE / DrQ encoder).
    c.encoder.cnn4_activation = "frn"
  else:
    c.encoder = blocks.encoder_config(
      kind="supernet" if phase == "search" else "fixed",
      skeleton="impala",
      channels=(32,),
      stem_channels=32,
      stem_stride=2,
      head="sac",
      feature_dim=50,
    )
    # The stem conv is VALID, as released (SAME: this project's earlier stem).
    c.encoder.stem_padding = "VALID"
    # FRN + TLU on the last stage's output before the dense layer, as released (none: without).
    c.encoder.head_norm = "frn"

  s = c.sac = ml_collections.ConfigDict()
  # Replayed transitions per update.
  s.batch_size = 256
  # Discount.
  s.gamma = 0.99
  # Soft-update rate of the target critic and target encoder (every update).
  s.tau = 0.005
  # Hidden widths of the actor and of each critic MLP.
  s.hidden = (256, 256)
  # Replay capacity in transitions (a multiple of env.num_envs); not checkpointed.
  s.replay_capacity = 100_000
  # Uniform-random actions for the first N env steps of the run (-1: the task's released
  # value, darts_rl.envs.RELEASED: 1000; cheetah, walker, finger 10000).
  s.init_random_env_steps = -1
  # Updates start once this process added N env steps to the (fresh) replay; also on resume.
  s.learning_starts = 1000
  # Updates per iteration; an iteration steps every env once, so updates per env step are
  # updates_per_iteration / env.num_envs (the paper: 1).
  s.updates_per_iteration = 1
  # Initial temperature (released: log alpha 0).
  s.init_temperature = 1.0
  # Target entropy = -target_entropy_scale * |A| (the action dimension).
  s.target_entropy_scale = 0.5
  # Critic loss = weight * (MSE(q1) + MSE(q2)) (released tf_agents weight 0.5).
  s.critic_loss_weight = 0.5
  # Random-shift augmentation: replicate-pad this many pixels, random crop back.
  s.shift_pad = 4
  s.actor_optimizer = blocks.adam_config(3e-4)
  s.critic_optimizer = blocks.adam_config(3e-4)
  s.temperature_optimizer = blocks.adam_config(3e-4)
  # Only the critic loss trains the encoder's alphas, with the critic's optimizer settings.
  c.arch = blocks.arch_config(s.critic_optimizer)

  # 0: the task's released budget (darts_rl.envs.RELEASED: cartpole 2e5 ... cheetah 2e6).
  c.loop = blocks.loop_config(0)
  c.loop.log_every_env_steps = 1000
  c.loop.eval_every_env_steps = 5000
  c.loop.checkpoint_every_env_steps = 10_000
  c.loop.eval_episodes = 10
  # DM-Control has no levels: evaluate on fresh seeds only (validation: other fresh seeds).
  c.loop.eval_splits = ("test", "validation")

  if size == "smoke":  # seconds on a CPU after compilation: every code path, no learning
    c.env.num_envs = 1  # each env costs an EGL context and its renders
    c.env.time_limit = 0.2  # cartpole: 20 control steps = 5 agent steps at repeat 4
    c.encoder.channels = (4,)
    c.encoder.feature_dim = 16
    if phase != "baseline":
      c.encoder.stem_channels = 4
      c.encoder.num_nodes = 2  # 3 edges per cell: the same code paths, less to compile
    s.batch_size = 8
    s.hidden = (16, 16)
    s.replay_capacity = 64
    s.init_random_env_steps = 8
    s.learning_starts = 8
    c.loop = blocks.loop_config(24)
    c.loop.log_every_env_steps = 8
    c.loop.eval_every_env_steps = 16
    c.loop.checkpoint_every_env_steps = 16
    c.loop.eval_episodes = 2
    c.loop.eval_splits = ("test", "validation")
    c.loop.eval_max_env_steps = 40
    c.loop.tensorboard = False
  elif size in ("demo", "cpu"):  # minutes on 2 CPU cores: small encoder, short budget
    c.encoder.channels = (16,)
    c.encoder.feature_dim = 50
    if phase != "baseline":
      c.encoder.stem_channels = 16
    s.batch_size = 32
    s.replay_capacity = 10_000
    s.init_random_env_steps = 250
    s.learning_starts = 250
    c.loop = blocks.loop_config(1000)
    c.loop.log_every_env_steps = 100
    c.loop.eval_every_env_steps = 0
    c.loop.checkpoint_every_env_steps = 500
    c.loop.eval_episodes = 2
    c.loop.eval_splits = ("test", "validation")
  if size == "cpu":  # the CPU learning evidence: demo's encoders, DrQ's settings for cartpole
    # Action repeat 8 (DrQ / CURL for cartpole; released: 4), DrQ's learning rate 1e-3 (alphas
    # too), initial temperature 0.1 and tau 0.01: at the released values a first attempt was
    # still at random level after 4,000 steps (experiments/results/sac_cartpole_cpu).
    c.env.action_repeat = 8
    s.batch_size = 64
    s.replay_capacity = 20_000
    s.init_random_env_steps = 500
    s.learning_starts = 500
    for opt in (s.actor_optimizer, s.critic_optimizer, s.temperature_optimizer, c.arch.optimizer):
      opt.lr = 1e-3
    s.init_temperature = 0.1
    s.tau = 0.01
    if phase != "baseline":  # one normal cell instead of two: 6,000 search steps fit the hour
      c.encoder.cells_per_stage = 1
    if phase == "search":  # the collapse monitor: 22 probes of 4 Hessian-vector products
      c.arch.eigen_every_updates = 250
      c.arch.eigen_iterations = 4
    c.loop.total_env_steps = 6_000 if phase == "search" else 8_000
    c.loop.log_every_env_steps = 250
    c.loop.eval_every_env_steps = 2000
    c.loop.checkpoint_every_env_steps = 1000
    c.loop.eval_episodes = 10
  if blocks.ROBUST in flags:
    blocks.robust_options(c.arch)
    c.arch.eigen_every_updates = c.arch.eigen_every_updates or 1000
  if phase == "evaluate":  # the genotype records its space's shape (stem, channels, ...)
    blocks.leave_shape_to_genotype(c.encoder)
  return c
