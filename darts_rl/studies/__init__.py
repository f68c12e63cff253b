"""Studies: the paper's experiments as one command each (launch/study.py, docs/studies.md).

A study file (experiments/studies/*.py) declares its environments, seeds and methods, each a
chain of steps (grid.py); the driver (runner.py) runs the resulting graph on an executor
(darts_rl/sweep), resumes it from what its workdirs hold, and writes its report
(darts_rl/analysis/studies.py).
"""

from darts_rl.studies.grid import (
  SEEDS,
  Baseline,
  Cells,
  Method,
  RandomCells,
  Retrain,
  Search,
  Study,
  darts,
  games,
  parse_variant,
)

__all__ = [
  "SEEDS",
  "Baseline",
  "Cells",
  "Method",
  "RandomCells",
  "Retrain",
  "Search",
  "Study",
  "darts",
  "games",
  "parse_variant",
]
