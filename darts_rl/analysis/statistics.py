"""Aggregates over seeds with rliable (Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice"): interquartile mean and mean with stratified-bootstrap confidence
intervals, probability of improvement, performance profiles.

Scores are arrays [runs, tasks]: one row per seed, one column per game (normalized per game
where analysis.normalization can). Runs are resampled within each task (stratified), never
tasks, as rliable does by default.

rliable is imported on first use: it loads scipy, pandas and arch (about 3 s), which a report
of single runs never needs.
"""

import contextlib
import logging
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl.analysis.render import save_figure

AGGREGATES = ("IQM", "mean")
CONFIDENCE = 0.95


def iqm(scores: np.ndarray) -> float:
  """Interquartile mean of all scores [runs, tasks]: the mean of the middle 50% (rliable's
  aggregate_iqm, scipy's trim_mean(0.25) over the flattened scores)."""
  from rliable import metrics

  return float(metrics.aggregate_iqm(np.asarray(scores, np.float64)))


@contextlib.contextmanager
def _seeded(seed: int):
  """numpy's global generator seeded for the block, then restored: rliable's stratified
  bootstrap draws its resamples from it (np.random.choice), whatever random_state says.
  rliable's progress lines are kept out of the output meanwhile."""
  state = np.random.get_state()
  np.random.seed(seed)
  log = logging.getLogger("absl")  # rliable logs a line per method at INFO
  level = log.level
  log.setLevel(max(level, logging.WARNING))
  try:
    yield
  finally:
    np.random.set_state(state)
    log.setLevel(level)


def _aggregates(scores: np.ndarray) -> np.ndarray:
  from rliable import metrics

  return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_mean(scores)])


def interval_estimates(
  score_dict: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0
) -> Dict[str, Dict[str, Tuple[float, float, float]]]:
  """{method: {'IQM' | 'mean': (point estimate, CI low, CI high)}}: 95% percentile intervals
  of a stratified bootstrap over runs (reps resamples from a fixed seed per method: a
  method's interval does not depend on which other methods the report holds)."""
  from rliable import library

  out = {}
  for name, scores in score_dict.items():
    with _seeded(seed):
      points, intervals = library.get_interval_estimates(
        {name: np.asarray(scores, np.float64)},
        _aggregates,
        reps=reps,
        confidence_interval_size=CONFIDENCE,
      )
    out[name] = {
      agg: (float(points[name][i]), float(intervals[name][0, i]), float(intervals[name][1, i]))
      for i, agg in enumerate(AGGREGATES)
    }
  return out


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
  """P(X > Y): the chance that a run of X beats a run of Y on a task (ties count half),
  averaged over tasks; x [runs_x, tasks], y [runs_y, tasks] (rliable's Mann-Whitney form)."""
  from rliable import metrics

  return float(
    metrics.probability_of_improvement(np.asarray(x, np.float64), np.asarray(y, np.float64))
  )


def performance_profiles(
  score_dict: Mapping[str, np.ndarray], taus: Sequence[float], reps: int = 500, seed: int = 0
):
  """({method: fraction of runs with score > tau, [T]}, {method: CI [2, T]}): run-score
  distributions with stratified-bootstrap 95% bands."""
  from rliable import library

  data = {k: np.asarray(v, np.float64) for k, v in score_dict.items()}
  with _seeded(seed):
    return library.create_performance_profile(
      data, np.asarray(taus, np.float64), reps=reps, confidence_interval_size=CONFIDENCE
    )


def plot_performance_profiles(
  score_dict: Mapping[str, np.ndarray], xlabel: str, out_png: str, reps: Optional[int] = None
) -> str:
  """Performance profiles of every method on one axis (a line and its 95% band of `reps`
  bootstrap resamples; None: performance_profiles' default)."""
  all_scores = np.concatenate([np.ravel(v) for v in score_dict.values()])
  lo, hi = float(all_scores.min()), float(all_scores.max())
  pad = max(1e-6, 0.05 * (hi - lo))
  taus = np.linspace(lo - pad, hi + pad, 101)
  profiles, cis = performance_profiles(score_dict, taus, **({} if reps is None else {"reps": reps}))
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for i, (name, prof) in enumerate(profiles.items()):
    ax.plot(taus, prof, color=f"C{i % 10}", lw=1.8, label=f"{name} ({len(score_dict[name])} runs)")
    ax.fill_between(taus, cis[name][0], cis[name][1], color=f"C{i % 10}", alpha=0.2)
  ax.set_xlabel(xlabel, fontsize=9)
  ax.set_ylabel("fraction of runs with score > τ", fontsize=9)
  ax.set_ylim(-0.02, 1.02)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, frameon=False)
  ax.set_title("Performance profiles (95% stratified-bootstrap bands)", fontsize=10)
  fig.tight_layout()
  return save_figure(fig, out_png)
