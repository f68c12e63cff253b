"""A stand-in for darts_rl.train.loop in sweep tests: writes a finished run's files at once.

Trial i's returns come from TABLE (by the trial_XXX / seed_<S> dir name), so tests know which
trial each selection picks; everything else is a pure function of the run's config.
"""

import os
import re
import threading

from darts_rl import artifacts

# index -> (train, validation, test, fresh test): validation picks 0, 1, 3 in turn (the best
# so far); test would pick 2, whose own test return is its luck.
TABLE = {
  0: (5.0, 1.0, 4.0, 3.5),
  1: (6.0, 3.0, 1.0, 1.5),
  2: (9.0, 2.0, 6.0, 2.0),
  3: (7.0, 5.0, 2.0, 2.5),
}
# FAKE_TRAINING_HOLD_AT=N: the N-th run of this process claims its workdir, then waits to be
# killed (a driver stopped mid-study at a known step, with no clock involved).
HOLD_AT = int(os.environ.get("FAKE_TRAINING_HOLD_AT", "0"))
_runs = 0


def _index(workdir: str) -> int:
  return int(re.search(r"(\d+)$", os.path.normpath(workdir))[1])


def _split(mean: float) -> dict:
  return {
    "mean_return": mean,
    "std_return": 1.0,
    "stderr_return": 0.5,
    "episodes": 4,
    "per_game": {"coinrun": mean},
    "capped": False,
  }


def run(config, workdir, phase):
  global _runs
  if os.environ.get("FAKE_TRAINING_FAIL") == os.path.basename(os.path.normpath(workdir)):
    raise ValueError(f"{workdir}: told to fail")
  artifacts.claim(workdir, phase, config)
  _runs += 1
  if _runs == HOLD_AT:
    print(f"[fake] holding {workdir}", flush=True)
    threading.Event().wait()
  train, val, test, _ = TABLE[_index(workdir) % len(TABLE)]
  if phase != "random_policy":  # as the real one: a random policy trains and logs nothing
    writer = artifacts.MetricsWriter(workdir, None, tensorboard=False)
    # As the real one, a search with the collapse monitor on logs its eigenvalue probes and
    # the parameter-free share (here: made up, rising).
    monitor = phase == "search" and config.arch.eigen_every_updates > 0
    for step in (32, 64):
      row = {"train/return": train * step / 64, "wall_s": step / 32 + config.seed}
      if monitor:
        row.update({"arch/eigenvalue": step / 8, "alpha/normal/param_free": 0.75 + step / 1e3})
      writer.write(step, row)
  if phase == "search":  # the alphas history a search keeps: its initial alphas at 32 and 64
    from darts_rl.networks.space_config import make_space

    space = make_space(config.encoder)
    alphas = artifacts.AlphasWriter(workdir, space.op_names, config.encoder.temperature, None)
    for step in (32, 64):
      alphas.add(step, space.init_alphas())
  artifacts.write_eval(
    workdir,
    {
      "phase": phase,
      "env_steps": 64,
      "seed": config.seed,
      "train_levels": _split(train),
      "validation_levels": _split(val),
      "test_levels": _split(test),
    },
  )
  artifacts.mark_done(workdir)


def evaluate_random_policy(config, workdir):
  run(config, workdir, "random_policy")


def reevaluate(workdir, episodes, devices=None, seed_offset=0):
  del devices
  _, val, _, fresh = TABLE[_index(workdir) % len(TABLE)]
  artifacts.write_eval(
    workdir,
    {"env_steps": 64, "validation_levels": _split(val), "test_levels": _split(fresh)},
    episodes,
    seed_offset,
  )


def write_marker(path, text):
  """A job for executor tests: appends `text` to the file `path` and prints it."""
  print(f"job {text} in pid {os.getpid()} on cores {sorted(os.sched_getaffinity(0))}", flush=True)
  with open(path, "a") as f:
    f.write(text + "\n")
  if text.startswith("fail"):
    raise ValueError(f"job {text} failed as told")
