"""A study's files (launch/study.py, docs/studies.md): its record, its status view, the
directory of each step and its report.

    W/studies/<name>.json          the record: study, spec, size, envs, seeds, methods (each a
                                   list of steps: {"step": "search"}, {"step": "retrain",
                                   "at": [...], "source": [method, env] or null},
                                   {"step": "baseline"}, {"step": "random", "trials": N}),
                                   reports, nodes (name and deps)
    W/studies/<name>.status.json   what the driver runs and what failed (a view for --status)
    W/<method>/<env>/<step>/       each step's multi-seed workdir: search, retrain,
                                   retrain_at_<PCT>, baseline; random/seed_<S>/ a random search
    W/<method>/<env>/cells/        seed_<S>_at_<PCT>.json: a search's cell at PCT % of it
    W/reports/<name>/report.md     the report and its figures
"""

import os
from typing import List

from darts_rl.artifacts.files import REPORT_MD, ArtifactError, atomic_write_json, read_json

STUDIES_DIR = "studies"
REPORTS_DIR = "reports"
FINAL = 1.0  # the end of a search


def pct(fraction: float) -> str:
  """0.5 -> '050': fractions of a search as they appear in names."""
  return f"{int(round(fraction * 100)):03d}"


def record_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, STUDIES_DIR, f"{name}.json")


def status_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, STUDIES_DIR, f"{name}.status.json")


def report_dir(workdir: str, name: str) -> str:
  return os.path.join(workdir, REPORTS_DIR, name)


def report_path(workdir: str, name: str) -> str:
  return os.path.join(report_dir(workdir, name), REPORT_MD)


def step_dir(workdir: str, method: str, env: str, step: str) -> str:
  return os.path.join(workdir, method, env, step)


def retrain_step(fraction: float) -> str:
  """The step dir of a cell retrained from `fraction` of its search: retrain, retrain_at_050."""
  return "retrain" if fraction == FINAL else f"retrain_at_{pct(fraction)}"


def random_dir(workdir: str, method: str, env: str, seed) -> str:
  return os.path.join(step_dir(workdir, method, env, "random"), f"seed_{seed}")


def cell_path(workdir: str, method: str, env: str, seed, fraction: float) -> str:
  return os.path.join(workdir, method, env, "cells", f"seed_{seed}_at_{pct(fraction)}.json")


def write_record(workdir: str, record: dict):
  atomic_write_json(record_path(workdir, record["study"]), record)


def read_records(workdir: str) -> List[dict]:
  """The records of every study run in W, by name; ArtifactError when there is none."""
  d = os.path.join(workdir, STUDIES_DIR)
  names = sorted(
    f
    for f in (os.listdir(d) if os.path.isdir(d) else [])
    if f.endswith(".json") and not f.endswith(".status.json")
  )
  if not names:
    raise ArtifactError(
      f"{workdir} holds no study ({STUDIES_DIR}/ is empty): run launch/study.py first"
    )
  return [read_json(os.path.join(d, n), "study record") for n in names]
