"""darts-rl: differentiable architecture search for RL image encoders (JAX/Flax)."""

import setuptools

setuptools.setup(
  name="darts-rl",
  version="0.1.0",
  license="Apache-2.0",
  description="RL-DARTS: DARTS supernet encoders for PPO / Rainbow / SAC agents (JAX/Flax).",
  packages=setuptools.find_packages(include=["darts_rl", "darts_rl.*"]),
  python_requires=">=3.11,<3.14",
  # Two stacks chosen by Python version (docs/stack.md has the measurements and the choice):
  # 3.13 -> procgen-gym, numpy 2 and current jax; 3.11 / 3.12 -> procgen-mirror, whose numpy<2
  # pin makes jax 0.7.1 the newest jax that installs.
  install_requires=[
    "numpy>=1.26,<2; python_version < '3.13'",
    "numpy>=2.1,<3; python_version >= '3.13'",
    "jax>=0.7,<0.8; python_version < '3.13'",
    "jaxlib>=0.7,<0.8; python_version < '3.13'",
    "jax>=0.12,<0.13; python_version >= '3.13'",
    "jaxlib>=0.12,<0.13; python_version >= '3.13'",
    "flax>=0.10,<0.13",
    "optax>=0.2.3,<0.3",
    "chex>=0.1.87,<0.2",
    "rlax>=0.1.6,<0.2",
    "flashbax>=0.1.2,<0.2",
    "absl-py>=2.0,<3",
    "ml_collections>=0.1.1,<2",
    "tensorboardX>=2.6,<3",
    "matplotlib>=3.7,<4",
    # The same procgen C++ games and frames (tests/test_procgen_frames.py): procgen-mirror
    # (gym3 API) has wheels for 3.11 and 3.12, procgen-gym (gymnasium) for 3.13 and later.
    "procgen-mirror==0.10.7; python_version < '3.13'",
    "procgen-gym==0.1.1; python_version >= '3.13'",
    # dm_control requires labmaze, which has no wheel for 3.13 (its source build needs Bazel);
    # only dm_control's locomotion tasks import it, never its suite. On 3.13 scripts/install.sh
    # installs dm_control with --no-deps; its other requirements are listed here.
    "dm_control>=1.0.20,<1.1; python_version < '3.13'",
    "dm-env>=1.6; python_version >= '3.13'",
    "dm-tree>=0.1.8; python_version >= '3.13'",
    "glfw; python_version >= '3.13'",
    "lxml; python_version >= '3.13'",
    "protobuf>=3.19.4; python_version >= '3.13'",
    "pyopengl>=3.1.4; python_version >= '3.13'",
    "pyparsing>=3.0.0; python_version >= '3.13'",
    "requests; python_version >= '3.13'",
    "scipy; python_version >= '3.13'",
    "setuptools; python_version >= '3.13'",
    "tqdm; python_version >= '3.13'",
    "mujoco>=3.1,<4",  # dm_control 1.0.50 breaks on mujoco 4.0
    # Aggregates over seeds (IQM, stratified bootstrap, performance profiles). With numpy<2
    # pip resolves its arch dependency to 7.2, whose import fails on pandas 3.
    "rliable>=1.2,<2",
    "pandas>=2,<3",
  ],
  extras_require={
    # wandb: tests/test_wandb.py runs the W&B sink in offline mode. ruff: `make lint`
    # (settings in pyproject.toml), pinned to a minor version because its rules and
    # formatting change between minor releases. ray: tests/test_sweep.py runs trials on a
    # local Ray instance.
    "test": [
      "pytest>=7.4,<9",
      "pytest-timeout>=2.2,<3",
      "pytest-xdist>=3.5,<4",
      "wandb>=0.19,<0.32",
      "ruff>=0.17,<0.18",
      "ray>=2.9,<3",
    ],
    # NVIDIA GPUs (docs/gpus.md): jax's CUDA 12 plugin and the CUDA / cuDNN libraries as
    # wheels. jax's extra pins the plugin to its own version, so this resolves with the jax
    # above: 0.7.1 on Python 3.11 / 3.12, 0.12.x on 3.13.
    "cuda": [
      "jax[cuda12]>=0.7,<0.8; python_version < '3.13'",
      "jax[cuda12]>=0.12,<0.13; python_version >= '3.13'",
    ],
    # Weights & Biases logging (loop.wandb=True); off by default, never imported otherwise.
    "wandb": ["wandb>=0.19,<0.32"],
    # Trials on a Ray cluster: launch/random_search.py, launch/seeds.py --executor=ray.
    "ray": ["ray>=2.9,<3"],
    # PyTorch reference learner for benchmarks/ only (never imported by the package).
    "bench": ["torch>=2.2,<2.15"],
  },
)
