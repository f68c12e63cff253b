"""RL-DARTS with Rainbow on Procgen (docs/paper.md), one game or several (multi-game).

Variants (comma-separated tokens: a phase, a size, optionally `multi`):
  phase: search (supernet, default) | evaluate (fixed genotype) | baseline (IMPALA-CNN)
  size:  full (the release: 25M steps, 64 envs, IMPALA-CNN of five 64-channel stages) |
         smoke (seconds) | demo (minutes on 2 CPU cores) |
         cpu (experiments/results/rainbow_starpilot_cpu: about an hour of one CPU core per run)
  multi: one agent on several games (envs split evenly, rewards divided by each game's max
         reward; full: all 16 games, our reading of the paper's multi-game setup)

  python launch/search.py --config=experiments/rainbow_procgen.py:search,multi --workdir=/tmp/s
  python launch/discretize.py --workdir=/tmp/s
  python launch/evaluate.py --config=experiments/rainbow_procgen.py:evaluate,multi \
      --config.encoder.genotype=/tmp/s/genotype.json --workdir=/tmp/e
  python launch/evaluate.py --config=experiments/rainbow_procgen.py:baseline,multi --workdir=/tmp/b

The replay buffer is not checkpointed: a resumed run refills it and learns again after
`rainbow.learning_starts` new env steps (darts_rl/agents/rainbow.py).
"""

import ml_collections

from darts_rl import config as blocks
from darts_rl.envs.procgen import PROCGEN_GAMES

MULTI = "multi"
MULTI_GAMES = {
  "full": PROCGEN_GAMES,
  "demo": ("bigfish", "starpilot", "coinrun", "jumper"),
  "cpu": ("bigfish", "starpilot", "coinrun", "jumper"),
  "smoke": ("bigfish", "starpilot"),
}


def parse_arg(arg):
  """'PHASE[,SIZE][,multi]' -> (phase, size, multi)."""
  phase, size, flags = blocks.parse_variant(arg, (MULTI,))
  return phase, size, MULTI in flags


def rainbow_config() -> ml_collections.ConfigDict:
  r = ml_collections.ConfigDict()
  # C51 support: atoms of the return distribution, evenly spaced on [v_min, v_max].
  r.num_atoms = 51
  # C51 support: lowest return (rewards are divided by the game's max).
  r.v_min = 0.0
  # C51 support: highest return.
  r.v_max = 1.0
  # Width of the hidden layer of each head stream after the encoder.
  r.hidden = 512
  # Dueling head: a value stream and an advantage stream (False: one stream).
  r.dueling = True
  # Noisy nets (factorised Gaussian) in the head; off as released (exploration by epsilon).
  # Epsilons still apply when on: set exploration.eps_base=0 to explore by the noise alone.
  r.noisy = False
  # Noisy nets: initial noise scale sigma0 (the weights' sigma starts at sigma0 / sqrt(fan-in)).
  r.noisy_sigma0 = 0.5
  # Discount.
  r.gamma = 0.99
  # n-step return length.
  r.n_step = 7
  # Replayed transitions per learner update.
  r.batch_size = 256
  # Replay size in env steps (transitions, all envs together).
  r.replay_capacity = 500_000
  # Env steps (all envs together) before learning starts.
  r.learning_starts = 10_000
  # Prioritized replay: transitions are sampled with probability proportional to
  # priority ** priority_exponent.
  r.priority_exponent = 0.8
  # Prioritized replay: importance-sampling exponent of the loss weights (constant, as
  # released).
  r.importance_exponent = 0.2
  # Prioritized replay: priority = C51 loss + priority_epsilon (no transition at zero).
  r.priority_epsilon = 1e-6
  # Target network copied every N learner updates.
  r.target_update_period = 500
  # One iteration: this many vectorized env steps, then updates_per_iteration updates.
  r.rollout_steps = 1
  # Learner updates per iteration (64 envs x 1 step per update of 256 samples: 4 replayed
  # samples per env step, the release's samples_per_insert=4).
  r.updates_per_iteration = 1
  # Adam 5e-5 and epsilon 1e-8 (Sonnet's default) as released; the Rainbow paper's 1.5e-4,
  # used here before, is --config.rainbow.optimizer.eps=1.5e-4.
  r.optimizer = blocks.adam_config(5e-5, eps=1e-8)
  e = r.exploration = ml_collections.ConfigDict()
  # Ape-X per-env epsilons eps_i = eps_base ** (1 + eps_alpha * i / (N - 1)) over each
  # game's envs (0.4 down to ~0.0007); evaluation is greedy.
  e.eps_base = 0.4
  # Ape-X epsilon ladder: exponent spread eps_alpha (env i of N explores with
  # eps_base ** (1 + eps_alpha * i / (N - 1))).
  e.eps_alpha = 7.0
  # power (as released): eps_i ** (1 + decay_power * min(t / decay_env_steps, 1)) |
  # constant: the ladder throughout | linear: from eps_start down to the ladder.
  e.schedule = "power"
  # Exponent growth of the power schedule (the release's 7: each epsilon ends at eps_i ** 8).
  e.decay_power = 7.0
  # The linear schedule's starting epsilon.
  e.eps_start = 1.0
  # Env steps over which the schedule runs (0: the run's budget, as released).
  e.decay_env_steps = 0
  return r


def get_config(arg=None) -> ml_collections.ConfigDict:
  phase, size, multi = parse_arg(arg)
  c = ml_collections.ConfigDict()
  # Seed of everything (params, envs, sampling); two seeds give different runs.
  c.seed = 0
  # Agent name (darts_rl.agents.AGENTS).
  c.agent = "rainbow"
  c.env = blocks.procgen_config("starpilot", num_envs=64)
  if multi:
    c.env.games = MULTI_GAMES[size]
  # search: DARTS supernet (base op set, IMPALA skeleton); evaluate: the discretized cell;
  # baseline: the IMPALA-CNN it replaces. Released torso: five stages of 64 channels.
  kind = {"search": "supernet", "evaluate": "fixed", "baseline": "impala"}[phase]
  c.encoder = blocks.encoder_config(kind=kind, channels=(64,) * 5)
  r = c.rainbow = rainbow_config()
  c.arch = blocks.arch_config(r.optimizer)
  c.loop = blocks.loop_config(25_000_000)

  if size == "smoke":  # seconds on a CPU: every code path, no learning
    c.env.num_envs = 4
    c.env.num_levels = 10
    # One stage, one cell of two nodes: the C51 update runs the supernet three times (online
    # at s_tm1 and s_t, target at s_t), so a small one keeps the CPU compile short.
    c.encoder.channels = (4,)
    c.encoder.cells_per_stage = 1
    c.encoder.num_nodes = 2
    c.encoder.feature_dim = 32
    r.hidden = 16
    r.n_step = 3
    r.batch_size = 8
    r.replay_capacity = 4 * 64
    r.learning_starts = 32
    r.target_update_period = 4
    c.loop = blocks.loop_config(4 * 24)
    c.loop.log_every_env_steps = 32
    c.loop.checkpoint_every_env_steps = 48
    c.loop.eval_episodes = 4
    c.loop.eval_max_env_steps = 1000
    c.loop.tensorboard = False
  elif size in ("demo", "cpu"):  # minutes on 2 CPU cores: small encoder, short budget
    if not multi:
      c.env.games = ("bigfish",) if size == "demo" else ("starpilot",)
    c.env.num_envs = 16
    c.encoder.channels = (8, 16, 16)
    c.encoder.feature_dim = 128
    r.hidden = 128
    r.batch_size = 64
    # One update of 64 per 16 env steps (the release's 4 replayed samples per env step) and a
    # 10x learning rate: what learned within an hour of one CPU core (experiments/results/
    # rainbow_starpilot_cpu); at lr 5e-5 / 2.5e-4 with 4 env steps per update it stayed flat.
    r.rollout_steps = 1
    r.optimizer.lr = 5e-4
    c.arch.optimizer.lr = 1e-3
    r.replay_capacity = 50_000
    r.learning_starts = 2_000
    r.target_update_period = 100
    c.loop = blocks.loop_config(19_200)
    c.loop.log_every_env_steps = 640
    c.loop.eval_episodes = 16
    c.loop.eval_max_env_steps = 20_000
  if size == "cpu":  # the CPU learning evidence: demo's settings, starpilot, longer budgets
    c.loop.log_every_env_steps = 6400
    c.loop.eval_episodes = 64
    # One cell per stage: a search with 2 nodes per cell then updates as fast as the IMPALA-CNN
    # (benchmarks/ARCHIVE.md); 4 nodes (the default) made a third of its updates in an hour.
    if phase != "baseline":
      c.encoder.cells_per_stage = 1
    # What one core ran in about an hour: the IMPALA-CNN 160k env steps (a retrained cell gets
    # the same), the 4-node exact search 64k (2 nodes 144k, 3 nodes 96k, PC-DARTS 80k: set on
    # the command line, experiments/results/rainbow_starpilot_cpu).
    c.loop.total_env_steps = 64_000 if phase == "search" else 160_000
  if phase == "evaluate":  # the genotype records its space's shape (op set, channels, ...)
    blocks.leave_shape_to_genotype(c.encoder)
  return c
