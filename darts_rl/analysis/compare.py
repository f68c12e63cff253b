"""Search efficiency: best-so-far evaluation return against compute, random search vs RL-DARTS.

Reads (never writes) finished workdirs through darts_rl.artifacts:
  random search   its trials (trials.jsonl, darts_rl/random_search.py) in index order;
                  compute is cumulative over them (env steps and training wall time).
  RL-DARTS        a search workdir and the evaluate workdir of its discretized cell; compute
                  is the search's plus that one evaluation's (artifacts.training_compute), and
                  its return is the evaluation's.
Returns are eval.json-style `mean_return` on test levels when every run has them, else on
train levels (the report says which). Final-evaluation episodes are not counted as compute
on either side. Several workdirs per method are seeds: the plot shows each seed's best-so-far
curve and a band of mean ± std (population std) over the compute range all seeds cover; the
table lists every seed, the mean ± std per method, and random search's best within the mean
RL-DARTS budget.

Writes out_dir/{search_efficiency.png, report.md} atomically.
"""
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl import artifacts
from darts_rl.analysis.render import file_label, md_cell, save_figure
from darts_rl.formatting import format_duration, is_num

COMPUTE = (("env_steps", "env steps"), ("wall_s", "wall time (s)"))


# --- Reading --------------------------------------------------------------------------------

def load_darts(search_dir: str, eval_dir: str) -> dict:
  """{search_env_steps, search_wall_s, eval_env_steps, eval_wall_s, env_steps, wall_s, eval}."""
  ev = artifacts.read_eval(eval_dir)
  s_steps, s_wall = artifacts.training_compute(search_dir)
  e_steps, e_wall = artifacts.training_compute(eval_dir)
  wall = s_wall + e_wall if s_wall is not None and e_wall is not None else None
  return {"search_env_steps": s_steps, "search_wall_s": s_wall, "eval_env_steps": e_steps,
          "eval_wall_s": e_wall, "env_steps": s_steps + e_steps, "wall_s": wall, "eval": ev}


def _seed(workdir: str) -> str:
  try:
    return str(artifacts.read_config(workdir).get("seed", "-"))
  except artifacts.ArtifactError:
    return "-"


# --- Numbers ----------------------------------------------------------------------------------

def choose_split(trial_lists: Sequence[List[dict]], evals: Sequence[dict]) -> str:
  """'test_levels' when every trial row and every evaluation has it, else 'train_levels'."""
  runs = [r for rows in trial_lists for r in rows] + list(evals)
  for split in reversed(artifacts.SPLITS):  # the held-out levels first
    if all(isinstance(d.get(split), dict) for d in runs):
      return split
  raise ValueError("runs have neither test levels everywhere nor train levels everywhere: "
                   "nothing comparable")


def best_so_far(trials: Sequence[dict], split: str, compute: str) -> Tuple[np.ndarray, np.ndarray]:
  """(cumulative compute [N], best return so far [N]) over trials in order. compute: env_steps
  or wall_s (NaN from the first trial without it). A trial without a return (null) costs
  compute and changes no best; the best is NaN until the first return."""
  used = np.cumsum([float(r[compute]) if is_num(r.get(compute)) else math.nan
                    for r in trials])
  rets = [r[split]["mean_return"] for r in trials]
  best = np.fmax.accumulate([math.nan if v is None else float(v) for v in rets])
  return used, best


def best_within(curve: Tuple[np.ndarray, np.ndarray], budget: float) -> Optional[float]:
  """Best return among the trials finished within `budget` compute, None if none."""
  used, best = curve
  ok = np.flatnonzero(used <= budget)  # NaN compute never qualifies
  return float(best[ok[-1]]) if ok.size and np.isfinite(best[ok[-1]]) else None


def mean_band(curves: Sequence[Tuple[np.ndarray, np.ndarray]]):
  """Step curves -> (grid [G], mean [G], std [G]) over the compute range every curve covers
  (from the last first trial to the first last trial; empty if there is none), at each
  compute value of any curve in it (a curve holds its value until its next step)."""
  curves = [(x, y) for x, y in curves if x.size and np.isfinite(x).all()]
  if not curves:
    return np.zeros(0), np.zeros(0), np.zeros(0)
  lo, hi = max(x[0] for x, _ in curves), min(x[-1] for x, _ in curves)
  grid = np.unique(np.concatenate([x for x, _ in curves]))
  grid = grid[(grid >= lo) & (grid <= hi)]
  vals = np.stack([y[np.searchsorted(x, grid, side="right") - 1] for x, y in curves])
  keep = np.isfinite(vals).all(axis=0)  # before a seed's first return there is no best
  return grid[keep], vals[:, keep].mean(axis=0), vals[:, keep].std(axis=0)


def _mean_std(values: Sequence[Optional[float]], fmt: str = "{:.2f}") -> str:
  v = [x for x in values if x is not None and math.isfinite(x)]
  if not v:
    return "-"
  return fmt.format(np.mean(v)) + (f" ± {fmt.format(np.std(v))}" if len(v) > 1 else "")


# --- Plot and table -----------------------------------------------------------------------------

def plot_comparison(random_runs: Dict[str, List[dict]], darts_runs: Dict[str, dict], split: str,
                    out_png: str) -> str:
  """Two panels (env steps, wall time): best-so-far return per random-search seed (thin steps)
  with its mean ± std band, RL-DARTS seeds as points with their mean ± std as error bars."""
  fig = Figure(figsize=(11, 4.2))
  axes = fig.subplots(1, 2)
  for ax, (compute, xlabel) in zip(axes, COMPUTE):
    curves = [best_so_far(t, split, compute) for t in random_runs.values()]
    for x, y in curves:
      if np.isfinite(x).all():
        ax.step(x, y, where="post", color="C0", lw=0.8, alpha=0.35)
    grid, mean, std = mean_band(curves)
    if grid.size:
      ax.step(grid, mean, where="post", color="C0", lw=2,
              label=f"random search (mean ± std, {len(curves)} seeds)")
      ax.fill_between(grid, mean - std, mean + std, step="post", color="C0", alpha=0.2)
    pts = [(d[compute], d["eval"][split]["mean_return"]) for d in darts_runs.values()
           if is_num(d[compute])]
    if pts:
      xs, ys = np.array(pts).T
      ax.scatter(xs, ys, color="C3", s=14, alpha=0.5, zorder=3)
      ax.errorbar([xs.mean()], [ys.mean()], xerr=[xs.std()], yerr=[ys.std()], fmt="D",
                  color="C3", capsize=4, zorder=4,
                  label=f"RL-DARTS search + eval (mean ± std, {len(pts)} seeds)")
    ax.set_xlabel(f"total {xlabel}", fontsize=9)
    ax.set_ylabel(f"best {split.replace('_', ' ')} return so far", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    if grid.size or pts:
      ax.legend(fontsize=7, frameon=False, loc="lower right")
    else:
      ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
  fig.suptitle("Search efficiency: best evaluated architecture vs compute", fontsize=11)
  fig.tight_layout()
  return save_figure(fig, out_png)


def comparison_table(random_runs: Dict[str, List[dict]], darts_runs: Dict[str, dict],
                     split: str, seeds: Optional[Dict[str, str]] = None) -> str:
  """Markdown: one row per seed and a mean ± std row per method. Random-search rows also give
  the best return within the mean RL-DARTS env-step and wall-time budgets."""
  seeds = seeds or {}
  budget = {c: np.mean([d[c] for d in darts_runs.values()]) if darts_runs and all(
      is_num(d[c]) for d in darts_runs.values()) else None for c, _ in COMPUTE}
  head = ("| method | run | seed | architectures trained | env steps | wall time | best return "
          "| best within RL-DARTS env steps | best within RL-DARTS wall time |")
  lines = [head, "|" + "---|" * 9]
  cell = lambda v: "-" if v is None else f"{v:.2f}"
  rand = {"best": [], "steps": [], "wall": [], "b_steps": [], "b_wall": [], "n": []}
  for label, trials in random_runs.items():
    used = {c: best_so_far(trials, split, c)[0][-1] for c, _ in COMPUTE}
    best = float(best_so_far(trials, split, "env_steps")[1][-1])
    best = best if math.isfinite(best) else None
    within = {c: best_within(best_so_far(trials, split, c), budget[c])
              if budget[c] is not None else None for c, _ in COMPUTE}
    wall = used["wall_s"] if math.isfinite(used["wall_s"]) else None
    for k, v in (("best", best), ("steps", used["env_steps"]), ("wall", wall),
                 ("b_steps", within["env_steps"]), ("b_wall", within["wall_s"]),
                 ("n", len(trials))):
      rand[k].append(v)
    lines.append("| " + " | ".join(md_cell(c) for c in (
        "random search", label, seeds.get(label, "-"), len(trials), int(used["env_steps"]),
        format_duration(wall), cell(best), cell(within["env_steps"]),
        cell(within["wall_s"]))) + " |")
  darts = {"best": [], "steps": [], "wall": []}
  for label, d in darts_runs.items():
    ret = float(d["eval"][split]["mean_return"])
    darts["best"].append(ret)
    darts["steps"].append(d["env_steps"])
    darts["wall"].append(d["wall_s"])
    lines.append("| " + " | ".join(md_cell(c) for c in (
        "RL-DARTS", label, seeds.get(label, "-"), "supernet + 1", d["env_steps"],
        format_duration(d["wall_s"]), f"{ret:.2f}", "-", "-")) + " |")
  if random_runs:
    lines.append("| " + " | ".join((
        "**random search**", f"mean ± std ({len(random_runs)})", "-",
        _mean_std(rand["n"], "{:.1f}"),
        _mean_std(rand["steps"], "{:.0f}"), _mean_std(rand["wall"], "{:.1f} s"),
        _mean_std(rand["best"]), _mean_std(rand["b_steps"]), _mean_std(rand["b_wall"]))) + " |")
  if darts_runs:
    lines.append("| " + " | ".join((
        "**RL-DARTS**", f"mean ± std ({len(darts_runs)})", "-", "supernet + 1",
        _mean_std(darts["steps"], "{:.0f}"), _mean_std(darts["wall"], "{:.1f} s"),
        _mean_std(darts["best"]), "-", "-")) + " |")
  return "\n".join(lines)


def write_comparison(out_dir: str, random_dirs: Sequence[str],
                     darts_pairs: Sequence[Tuple[str, str]],
                     title: str = "Random search vs RL-DARTS") -> str:
  """Writes out_dir/{search_efficiency.png, report.md}; returns the path of report.md.
  random_dirs: random-search workdirs (one per seed); darts_pairs: (search workdir, evaluate
  workdir of its discretized cell), one per seed."""
  if not random_dirs and not darts_pairs:
    raise ValueError("nothing to compare: give random-search workdirs and/or RL-DARTS pairs")
  random_runs, darts_runs, seeds, sources = {}, {}, {}, []
  taken: set = set()
  for d in random_dirs:
    label = file_label(os.path.basename(os.path.normpath(d)), taken)
    random_runs[label], seeds[label] = artifacts.read_trials(d), _seed(d)
    sources.append(("random search", label, d))
  for s, e in darts_pairs:
    label = file_label(os.path.basename(os.path.normpath(s)), taken)
    darts_runs[label], seeds[label] = load_darts(s, e), _seed(s)
    sources.append(("RL-DARTS", label, f"{s} + {e}"))
  split = choose_split(list(random_runs.values()), [d["eval"] for d in darts_runs.values()])
  os.makedirs(out_dir, exist_ok=True)
  plot_comparison(random_runs, darts_runs, split, os.path.join(out_dir, "search_efficiency.png"))
  budget = [f"{np.mean([d[c] for d in darts_runs.values()]):.6g} {c}" for c, _ in COMPUTE
            if darts_runs and all(is_num(d[c]) for d in darts_runs.values())]
  md = [f"# {title}", "",
        f"Return: final evaluation `mean_return` on **{split.replace('_', ' ')}**"
        + ("" if split == "test_levels" else " (not every run has test levels)") + ". "
        f"Compute: training env steps and training wall time ({artifacts.METRICS} `wall_s`); final "
        "evaluations are not counted. Random search: cumulative over its trials in index order. "
        "RL-DARTS: the search plus one evaluation of its discretized cell. Mean ± std is over "
        "seeds (population std).", "",
        "| method | run | workdir |", "|---|---|---|"]
  md += [f"| {m} | {md_cell(l)} | `{md_cell(p)}` |" for m, l, p in sources]
  md += ["", "## Best return so far vs compute", "", "![search efficiency](search_efficiency.png)",
         "", "## Table", ""]
  if budget:
    md += [f"RL-DARTS budget (mean over seeds): {', '.join(budget)}.", ""]
  md += [comparison_table(random_runs, darts_runs, split, seeds), ""]
  return artifacts.write_report_md(out_dir, "\n".join(md))
