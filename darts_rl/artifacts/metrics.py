"""metrics.jsonl and tb/: one JSON object per log step, the same scalars in TensorBoard (and,
with loop.wandb=True, in a Weights & Biases run whose local files are in wandb/).

Each row has an integer "env_steps" and scalars (non-finite values written as null). A resumed
run drops the rows logged after its checkpoint, so only the final evaluation's row repeats an
env_steps value (the last one); readers merge rows of one step, later values winning.
"""

import math
import os
from typing import Dict, List, Optional, Tuple

import jax

from darts_rl.artifacts import evals
from darts_rl.artifacts.files import atomic_write_jsonl, missing, read_jsonl, to_json
from darts_rl.formatting import is_num

METRICS = "metrics.jsonl"
TENSORBOARD = "tb"
WANDB = "wandb"


def _check_row(row: dict) -> Optional[str]:
  steps = row.get("env_steps")
  if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps != int(steps):
    return f"a metrics row needs an integer 'env_steps', got {steps!r}"
  return None


def _clean(v):
  v = float(v)
  return None if math.isnan(v) or math.isinf(v) else v


class MetricsWriter:
  """Appends one row per log step to WORKDIR/metrics.jsonl (and TensorBoard events to tb/).

  resume_env_steps: rows already in the file with env_steps <= it are kept (in `history`), the
  rest dropped (rewritten atomically: the resumed run logs them again); None drops them all.
  Only process 0 writes.
  """

  def __init__(
    self,
    workdir: str,
    resume_env_steps: Optional[int],
    tensorboard: bool = True,
    wandb: Optional[dict] = None,
  ):
    """wandb: None, or the settings of a Weights & Biases run (`wandb_settings`)."""
    self.path = os.path.join(workdir, METRICS)
    self.history: List[dict] = []  # rows as written, this run's and the kept ones
    if os.path.exists(self.path):
      rows = read_jsonl(self.path, cut_last_ok=True, check=_check_row)
      if resume_env_steps is not None:
        self.history = [r for r in rows if r["env_steps"] <= resume_env_steps]
      if jax.process_index() == 0:
        atomic_write_jsonl(self.path, self.history)
    self.tb = None
    if tensorboard and jax.process_index() == 0:
      from tensorboardX import SummaryWriter  # only runs that log to TensorBoard load it

      self.tb = SummaryWriter(os.path.join(workdir, TENSORBOARD))
    self.wandb = WandbSink(workdir, **wandb) if wandb and jax.process_index() == 0 else None

  def write(self, env_steps: int, scalars: Dict[str, float]):
    row = {"env_steps": int(env_steps)}
    row.update({k: _clean(v) for k, v in sorted(scalars.items())})
    self.history.append(row)
    if jax.process_index() != 0:
      return
    with open(self.path, "a") as f:
      f.write(to_json(row) + "\n")
    if self.tb is not None:
      for k, v in row.items():
        if k != "env_steps" and v is not None:
          self.tb.add_scalar(k, v, env_steps)
      self.tb.flush()
    if self.wandb is not None:
      self.wandb.log(row)

  def close(self):
    if self.tb is not None:
      self.tb.close()
    if self.wandb is not None:
      self.wandb.close()


def wandb_settings(config, workdir: str, phase: str) -> Optional[dict]:
  """MetricsWriter's `wandb` argument from a run's config: None unless loop.wandb is set."""
  lc = config.loop
  if not lc.wandb:
    return None
  return {
    "project": lc.wandb_project,
    "entity": lc.wandb_entity,
    "name": f"{phase}:{os.path.basename(os.path.normpath(workdir))}",
    "config": dict(config.to_dict(), phase=phase),
  }


class WandbSink:
  """A Weights & Biases run that receives every metrics row (process 0 only).

  Each start of a run, a resume included, is a new W&B run of the same name; rows are plotted
  against their `env_steps` value, so a resumed run continues the same x axis. The run's local
  files go to WORKDIR/wandb/; WANDB_MODE=offline keeps them there (`wandb sync` uploads them).
  """

  def __init__(self, workdir: str, project: str, entity: str, name: str, config: dict):
    import wandb  # the optional extra (pip install -e .[wandb]): loaded only when asked for

    # dir= is the folder that wandb puts its `wandb/` (WANDB) folder into: the workdir.
    self.run = wandb.init(
      project=project or None,
      entity=entity or None,
      name=name,
      config=config,
      dir=workdir,
      settings=wandb.Settings(silent=True, console="off"),
    )
    self.run.define_metric("env_steps")
    self.run.define_metric("*", step_metric="env_steps")

  def log(self, row: Dict[str, Optional[float]]):
    self.run.log({k: v for k, v in row.items() if v is not None})

  def close(self):
    self.run.finish()


def read_metrics(workdir: str) -> List[dict]:
  """WORKDIR/metrics.jsonl -> rows sorted by env_steps, one per env_steps (merged, last wins).

  A truncated last line (a run killed mid-write) is ignored; any other malformed line, or a row
  without an integer "env_steps", is an ArtifactError naming the file and line.
  """
  path = os.path.join(workdir, METRICS)
  if not os.path.isfile(path):
    raise missing(workdir, METRICS, "is this a darts-rl workdir?")
  rows = {}
  for row in read_jsonl(path, cut_last_ok=True, check=_check_row):
    steps = int(row["env_steps"])
    rows[steps] = {**rows.get(steps, {}), **row, "env_steps": steps}
  return [rows[s] for s in sorted(rows)]


def training_compute(workdir: str) -> Tuple[int, Optional[float]]:
  """(env steps, training wall seconds) of a run: eval.json's env_steps, else the last metrics
  row's; the largest metrics.jsonl wall_s (training time, carried over resumes), else None."""
  rows = read_metrics(workdir)
  ev = evals.read_eval(workdir, missing_ok=True)
  steps = (
    int(ev["env_steps"])
    if ev and is_num(ev.get("env_steps"))
    else (int(rows[-1]["env_steps"]) if rows else 0)
  )
  walls = [float(r["wall_s"]) for r in rows if is_num(r.get("wall_s"))]
  return steps, (max(walls) if walls else None)
