"""A fixed Procgen rollout, reduced to per-frame digests, rewards and episode ends.

tests/data/procgen_frames.npz holds it as played once with procgen-mirror 0.10.7 (the
Python 3.11 stack); tests/test_procgen_frames.py replays it against whichever Procgen package
is installed. To record it again (only when the scenarios below change):

  PYTHONPATH=. python tests/procgen_recording.py tests/data/procgen_frames.npz
"""

import hashlib
import io
import sys
from typing import Dict, Optional

import numpy as np

from darts_rl.artifacts.files import atomic_write
from darts_rl.envs import procgen as pg

# name -> make_procgen arguments, steps, and the step after which `reset` re-creates the envs
# (a new derived seed: the re-creation path). Train levels in easy mode for four games with
# rewards and episode ends within 200 random steps; all levels in hard mode for two more.
SCENARIOS = {
  "easy_train": dict(
    games=("starpilot", "coinrun", "bossfight", "leaper"),
    num_envs=8,
    num_levels=200,
    distribution_mode="easy",
    seed=7,
    steps=200,
    reset_after=120,
  ),
  "hard_test": dict(
    games=("bossfight", "fruitbot"),
    num_envs=4,
    num_levels=0,
    distribution_mode="hard",
    seed=3,
    steps=120,
    reset_after=80,
  ),
}


def digest(frames: np.ndarray) -> np.ndarray:
  """[N, 64, 64, 3] uint8 -> [N] uint64: the first 8 bytes of each frame's SHA-256."""
  return np.asarray(
    [np.frombuffer(hashlib.sha256(f.tobytes()).digest()[:8], "<u8")[0] for f in frames],
    np.uint64,
  )


def thumbnail(frames: np.ndarray) -> np.ndarray:
  """[N, 64, 64, 3] uint8 -> [N, 8, 8, 3] uint8: the rounded mean of each 8x8 pixel block.

  The two packages draw a few frames differently by a thin line of pixels (Qt versions scale
  and antialias differently: a background column in bossfight, two sprite pixels in coinrun),
  which moves a block mean by at most 1; a step of the game moves some block mean by more."""
  n = frames.shape[0]
  blocks = frames.reshape(n, 8, 8, 8, 8, 3).mean(axis=(2, 4))
  return np.round(blocks).astype(np.uint8)


def play(name: str, actions: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
  """Plays scenario `name` with the given [T, N] actions (None: random ones drawn from the
  scenario's seed): {name/actions [T, N] int8, name/frames [T + 2, N] uint64 digests of the
  observations (the first reset, T steps, the reset at reset_after), name/thumbnails
  [T + 2, N, 8, 8, 3] uint8, name/rewards [T, N] float32, name/firsts [T, N] bool}."""
  s = SCENARIOS[name]
  env = pg.make_procgen(
    s["games"], s["num_envs"], s["num_levels"], 0, s["distribution_mode"], seed=s["seed"]
  )
  if actions is None:
    rng = np.random.default_rng(s["seed"])
    actions = rng.integers(0, env.action_spec.num_actions, (s["steps"], s["num_envs"]))
  observations, rewards, firsts = [env.reset()], [], []
  for t in range(s["steps"]):
    step = env.step(actions[t])
    observations.append(step.obs)
    rewards.append(step.reward)
    firsts.append(step.terminated)
    if t + 1 == s["reset_after"]:
      observations.append(env.reset())
  env.close()
  return {
    f"{name}/actions": actions.astype(np.int8),
    f"{name}/frames": np.stack([digest(o) for o in observations]),
    f"{name}/thumbnails": np.stack([thumbnail(o) for o in observations]),
    f"{name}/rewards": np.stack(rewards).astype(np.float32),
    f"{name}/firsts": np.stack(firsts).astype(bool),
  }


def record(path: str) -> None:
  data = {"package": np.asarray(pg.PACKAGE)}
  for name in SCENARIOS:
    data.update(play(name))
  buf = io.BytesIO()
  np.savez_compressed(buf, **data)
  atomic_write(path, buf.getvalue(), "wb")
  print(f"recorded {', '.join(SCENARIOS)} with {pg.PACKAGE} -> {path}")


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: python tests/procgen_recording.py OUT.npz")
  record(sys.argv[1])
