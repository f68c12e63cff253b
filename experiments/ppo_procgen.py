"""RL-DARTS with PPO on Procgen (docs/paper.md), one game.

Variants (comma-separated: a phase and a size):
  phase: search (supernet, default) | evaluate (fixed genotype) | baseline (IMPALA-CNN)
  size:  full (the paper: 25M steps, 64 envs x 1024 steps) | smoke (seconds) | demo (minutes) |
         cpu (experiments/results/ppo_starpilot_cpu: about an hour of one CPU core per run)

  python launch/search.py --config=experiments/ppo_procgen.py:search --workdir=/tmp/s
  python launch/discretize.py --workdir=/tmp/s
  python launch/evaluate.py --config=experiments/ppo_procgen.py:evaluate \
      --config.encoder.genotype=/tmp/s/genotype.json --workdir=/tmp/e
  python launch/evaluate.py --config=experiments/ppo_procgen.py:baseline --workdir=/tmp/b
"""

import ml_collections

from darts_rl import config as blocks


def get_config(arg=None) -> ml_collections.ConfigDict:
  phase, size, flags = blocks.parse_variant(arg, (blocks.ROBUST,))
  c = ml_collections.ConfigDict()
  # Seed of everything (params, envs, sampling); two seeds give different runs.
  c.seed = 0
  # Agent name (darts_rl.agents.AGENTS).
  c.agent = "ppo"
  c.env = blocks.procgen_config("starpilot", num_envs=64)
  # search: DARTS supernet (base op set, IMPALA skeleton); evaluate: the discretized cell;
  # baseline: the IMPALA-CNN it replaces.
  kind = {"search": "supernet", "evaluate": "fixed", "baseline": "impala"}[phase]
  c.encoder = blocks.encoder_config(kind=kind)

  p = c.ppo = ml_collections.ConfigDict()
  # Rollout length: env steps per env between updates (paper: 64 envs x 1024 steps).
  p.num_steps = 1024
  # Minibatches per rollout (paper: 32, so 2048 samples per minibatch).
  p.num_minibatches = 32
  # PPO epochs over each rollout (paper: 2).
  p.num_epochs = 2
  # Discount of the advantages and value targets.
  p.gamma = 0.999
  # GAE lambda of the advantages and value targets.
  p.gae_lambda = 0.95
  # Clip range of the policy ratio (PPO clip).
  p.clip_eps = 0.2
  # Clip range of the value change from the rollout's value (value clip).
  p.value_clip_eps = 0.2
  # Weight of the entropy bonus: loss = policy loss + value_coef * value loss
  # - entropy_coef * entropy.
  p.entropy_coef = 0.01
  # Weight of the value loss (clipped MSE, as released; CleanRL halves it once more:
  # value_coef=0.25 gives that weight).
  p.value_coef = 0.5
  # Advantages normalized with each minibatch's mean and std.
  p.normalize_advantages = True
  # Gradient accumulation: each minibatch's gradient as this many jitted calls on slices of
  # its time steps, summed, then one optimizer step. The same update up to float summation
  # order; faster on CPU, where per-sample cost grows with batch size (benchmarks/ARCHIVE.md).
  # 0 = auto: on CPU, calls of at most 64 samples per device; 1 on accelerators.
  p.grad_chunks = 0
  # Rewards divided by the running std of the discounted return, then clipped.
  p.reward_clip = 10.0
  p.optimizer = blocks.adam_config(5e-4, eps=1e-5, max_grad_norm=0.5)
  c.arch = blocks.arch_config(p.optimizer)
  c.loop = blocks.loop_config(25_000_000)

  if size == "smoke":  # seconds on a CPU: every code path, no learning
    c.env.num_envs = 4
    c.env.num_levels = 10
    # One stage, one cell of two nodes: every code path, little to compile.
    c.encoder.channels = (4,)
    c.encoder.cells_per_stage = 1
    c.encoder.num_nodes = 2
    c.encoder.feature_dim = 32
    p.num_steps, p.num_minibatches, p.num_epochs = 16, 2, 1
    c.loop = blocks.loop_config(4 * 16 * 4)
    c.loop.log_every_env_steps = 64
    c.loop.checkpoint_every_env_steps = 128
    c.loop.eval_episodes = 4
    c.loop.eval_max_env_steps = 400
    c.loop.tensorboard = False
  elif size == "demo":  # minutes on 2 CPU cores (make demo): small encoder, short budget
    c.env.games = ("bigfish",)
    c.env.num_envs = 32
    c.encoder.channels = (8, 16, 16)
    c.encoder.feature_dim = 128
    p.num_steps, p.num_minibatches, p.num_epochs = 64, 4, 2
    c.loop = blocks.loop_config(64 * 32 * 8)
    c.loop.log_every_env_steps = 64 * 32
    c.loop.eval_episodes = 16
    # A demo has ~60 alpha steps, not the paper's ~10^4: a 10x arch learning rate lets the
    # mixing weights visibly move in that time (the paper's setting is the `full` default).
    c.arch.optimizer.lr = 5e-3
    c.loop.eval_max_env_steps = 8_000
  elif size == "cpu":  # the CPU learning evidence (experiments/results/*_cpu/): starpilot
    c.env.num_envs = 32
    p.num_steps, p.num_minibatches, p.num_epochs = 128, 4, 2
    c.loop.log_every_env_steps = 4096
    c.loop.eval_episodes = 64
    if phase == "baseline":  # the IMPALA-CNN at its own width (16/32/32), 98,304 env steps
      c.loop.total_env_steps = 98_304
    else:
      # Search at half width (8/16/16, DARTS's practice: a narrower supernet than the network
      # retrained); retraining keeps the genotype's width and the baseline's budget.
      c.encoder.channels = (8, 16, 16)
      c.encoder.feature_dim = 128
      c.loop.total_env_steps = 73_728 if phase == "search" else 98_304
      if phase == "search":  # 144 alpha steps, not the paper's ~10^4: a 10x arch lr, as demo
        c.arch.optimizer.lr = 5e-3
        # The collapse monitor: 9 probes of 4 Hessian-vector products (+~30% time).
        c.arch.eigen_every_updates = 16
        c.arch.eigen_iterations = 4
  if blocks.ROBUST in flags:
    blocks.robust_options(c.arch)
    c.arch.eigen_every_updates = c.arch.eigen_every_updates or 16
  if phase == "evaluate":  # the genotype records its space's shape (op set, channels, ...)
    blocks.leave_shape_to_genotype(c.encoder)
  return c
