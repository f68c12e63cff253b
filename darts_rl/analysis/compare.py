"""Search efficiency: the selected architecture's return against compute, random search vs
RL-DARTS.

Reads (never writes) finished workdirs through darts_rl.artifacts:
  random search   its trials (trials.jsonl, darts_rl/random_search.py) in index order;
                  compute is cumulative over them (env steps and training wall time). After
                  each trial the selected one is the best so far on validation levels
                  (artifacts.running_best); its return is that trial's fresh evaluation
                  (other seeds than any evaluation it was selected on).
  RL-DARTS        a search workdir and the evaluate workdir of its discretized cell (or a
                  seeds workdir of each, paired seed by seed); compute is the search's plus
                  that one evaluation's (artifacts.training_compute), and its return is the
                  evaluate run's fresh evaluation: the same protocol as random search's pick.
Returns are `mean_return` on test levels when every run has them, else on train levels. Where
a fresh evaluation is missing the run's own evaluation stands in, and where trials have no
validation split the selection falls back to the reported split (older random searches):
the report says both, since such a best-of-N number carries its own selection noise.
Final-evaluation episodes are not counted as compute on either side. Several workdirs per
method are seeds: the plot shows each seed's curve and a band of mean ± std over the compute
range all seeds cover; the table lists every seed, and the 'Across seeds' section gives IQM
and mean with stratified-bootstrap intervals and the probability of improvement
(analysis/across_seeds.py), per game normalized where possible.

Writes out_dir/{search_efficiency.png, performance_profiles.png, report.md} atomically.
"""

import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl import artifacts
from darts_rl.analysis import across_seeds, per_game
from darts_rl.analysis.render import file_label, md_cell, md_row, save_figure
from darts_rl.formatting import format_duration, is_num

COMPUTE = (("env_steps", "env steps"), ("wall_s", "wall time (s)"))


# --- Reading --------------------------------------------------------------------------------


def load_darts(search_dir: str, eval_dir: str) -> dict:
  """{search_env_steps, search_wall_s, eval_env_steps, eval_wall_s, env_steps, wall_s, eval,
  fresh (the evaluate run's fresh evaluation, None without one), env (its config's)}."""
  ev = artifacts.read_eval(eval_dir)
  s_steps, s_wall = artifacts.training_compute(search_dir)
  e_steps, e_wall = artifacts.training_compute(eval_dir)
  wall = s_wall + e_wall if s_wall is not None and e_wall is not None else None
  return {
    "search_env_steps": s_steps,
    "search_wall_s": s_wall,
    "eval_env_steps": e_steps,
    "eval_wall_s": e_wall,
    "env_steps": s_steps + e_steps,
    "wall_s": wall,
    "eval": ev,
    "fresh": artifacts.fresh_eval(eval_dir)[0],
    "env": per_game.env_section(eval_dir),
  }


def darts_pairs(pairs: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
  """(search, evaluate) workdir pairs, a pair of seeds workdirs (launch/seeds.py) expanded
  into the pairs of the seeds both finished."""
  out = []
  for s, e in pairs:
    if artifacts.seeds_run_phase(s) is None or artifacts.seeds_run_phase(e) is None:
      out.append((s, e))
      continue
    common = sorted(set(artifacts.finished_seeds(s)) & set(artifacts.finished_seeds(e)))
    if not common:
      raise ValueError(f"seeds workdirs {s} and {e} have no finished seed in common")
    out += [(artifacts.seed_dir(s, k), artifacts.seed_dir(e, k)) for k in common]
  return out


def _seed(workdir: str) -> str:
  try:
    return str(artifacts.read_config(workdir).get("seed", "-"))
  except artifacts.ArtifactError:
    return "-"


# --- Numbers ----------------------------------------------------------------------------------


def choose_split(trial_lists: Sequence[List[dict]], evals: Sequence[dict]) -> str:
  """The split returns are reported on: 'test_levels' when every trial row and every
  evaluation has it, else 'train_levels'."""
  runs = [r for rows in trial_lists for r in rows] + list(evals)
  for split in (artifacts.TEST, artifacts.SPLIT_KEYS["train"]):
    if all(isinstance(d.get(split), dict) for d in runs):
      return split
  raise ValueError(
    "runs have neither test levels everywhere nor train levels everywhere: nothing comparable"
  )


def selection_split(trials: Sequence[dict], split: str) -> str:
  """Validation levels when every trial has them, else the reported split (biased)."""
  if trials and all(isinstance(r.get(artifacts.VALIDATION), dict) for r in trials):
    return artifacts.VALIDATION
  return split


def reported(run: dict, split: str) -> Tuple[Optional[dict], bool]:
  """(split dict, fresh?) of a trial row or load_darts entry: its fresh evaluation's `split`
  when it has one, else its own evaluation's."""
  fresh = run.get("fresh")
  if isinstance(fresh, dict) and isinstance(fresh.get(split), dict):
    return fresh[split], True
  own = run.get("eval", run).get(split)
  return (own if isinstance(own, dict) else None), False


def _value(d: Optional[dict]) -> float:
  v = (d or {}).get("mean_return")
  return float(v) if is_num(v) else math.nan


def best_so_far(trials: Sequence[dict], split: str, compute: str) -> Tuple[np.ndarray, np.ndarray]:
  """(cumulative compute [N], return of the selected trial [N]) over trials in order: after
  trial i, the best so far on the selection split (selection_split), reported on `split`
  (its fresh evaluation when it has one). compute: env_steps or wall_s (NaN from the first
  trial without it). A trial without a return (null) costs compute and changes no pick; the
  value is NaN until the first pick."""
  used = np.cumsum([float(r[compute]) if is_num(r.get(compute)) else math.nan for r in trials])
  picks = artifacts.running_best(trials, selection_split(trials, split))
  return used, np.array(
    [math.nan if p is None else _value(reported(trials[p], split)[0]) for p in picks]
  )


def selected(trials: Sequence[dict], split: str) -> Tuple[Optional[dict], bool]:
  """(the finally selected trial's row, whether its reported return is fresh)."""
  pick = artifacts.running_best(trials, selection_split(trials, split))[-1]
  if pick is None:
    return None, False
  return trials[pick], reported(trials[pick], split)[1]


def best_within(curve: Tuple[np.ndarray, np.ndarray], budget: float) -> Optional[float]:
  """Best return among the trials finished within `budget` compute, None if none."""
  used, best = curve
  ok = np.flatnonzero(used <= budget)  # NaN compute never qualifies
  return float(best[ok[-1]]) if ok.size and np.isfinite(best[ok[-1]]) else None


def mean_band(curves: Sequence[Tuple[np.ndarray, np.ndarray]]):
  """Step curves -> (grid [G], mean [G], sample std [G]) over the compute range every curve covers
  (from the last first trial to the first last trial; empty if there is none), at each
  compute value of any curve in it (a curve holds its value until its next step)."""
  curves = [(x, y) for x, y in curves if x.size and np.isfinite(x).all()]
  if not curves:
    return np.zeros(0), np.zeros(0), np.zeros(0)
  lo, hi = max(x[0] for x, _ in curves), min(x[-1] for x, _ in curves)
  grid = np.unique(np.concatenate([x for x, _ in curves]))
  grid = grid[(grid >= lo) & (grid <= hi)]
  vals = np.stack([y[np.searchsorted(x, grid, side="right") - 1] for x, y in curves])
  keep = np.isfinite(vals).all(axis=0)  # before a seed's first return there is no pick
  return grid[keep], vals[:, keep].mean(axis=0), vals[:, keep].std(axis=0, ddof=int(len(vals) > 1))


def _mean_std(values: Sequence[Optional[float]], fmt: str = "{:.2f}") -> str:
  v = [x for x in values if x is not None and math.isfinite(x)]
  if not v:
    return "-"
  return fmt.format(np.mean(v)) + (f" ± {fmt.format(np.std(v, ddof=1))}" if len(v) > 1 else "")


# --- Plot and table -----------------------------------------------------------------------------


def plot_comparison(
  random_runs: Dict[str, List[dict]], darts_runs: Dict[str, dict], split: str, out_png: str
) -> str:
  """Two panels (env steps, wall time): the selected trial's return per random-search seed
  (thin steps) with its mean ± std band, RL-DARTS seeds as points with their mean ± std as
  error bars (std over seeds, n-1)."""
  fig = Figure(figsize=(11, 4.2))
  axes = fig.subplots(1, 2)
  for ax, (compute, xlabel) in zip(axes, COMPUTE):
    curves = [best_so_far(t, split, compute) for t in random_runs.values()]
    for x, y in curves:
      if np.isfinite(x).all():
        ax.step(x, y, where="post", color="C0", lw=0.8, alpha=0.35)
    grid, mean, std = mean_band(curves)
    if grid.size:
      ax.step(
        grid,
        mean,
        where="post",
        color="C0",
        lw=2,
        label=f"random search (mean ± std, {len(curves)} seeds)",
      )
      ax.fill_between(grid, mean - std, mean + std, step="post", color="C0", alpha=0.2)
    pts = [
      (d[compute], _value(reported(d, split)[0])) for d in darts_runs.values() if is_num(d[compute])
    ]
    if pts:
      xs, ys = np.array(pts).T
      ddof = int(len(pts) > 1)
      ax.scatter(xs, ys, color="C3", s=14, alpha=0.5, zorder=3)
      ax.errorbar(
        [xs.mean()],
        [ys.mean()],
        xerr=[xs.std(ddof=ddof)],
        yerr=[ys.std(ddof=ddof)],
        fmt="D",
        color="C3",
        capsize=4,
        zorder=4,
        label=f"RL-DARTS search + eval (mean ± std, {len(pts)} seeds)",
      )
    ax.set_xlabel(f"total {xlabel}", fontsize=9)
    ax.set_ylabel(f"selected architecture's {split.replace('_', ' ')} return", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    if grid.size or pts:
      ax.legend(fontsize=7, frameon=False, loc="lower right")
    else:
      ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
  fig.suptitle("Search efficiency: best evaluated architecture vs compute", fontsize=11)
  fig.tight_layout()
  return save_figure(fig, out_png)


def comparison_table(
  random_runs: Dict[str, List[dict]],
  darts_runs: Dict[str, dict],
  split: str,
  seeds: Optional[Dict[str, str]] = None,
) -> str:
  """Markdown: one row per seed and a mean ± std row per method (std over seeds, n-1).
  'reported return': the selected trial's (random search) or the cell's (RL-DARTS) fresh
  evaluation, marked † where the run's own evaluation stands in. Random-search rows also give
  the selected trial and the return of the trial selected within the mean RL-DARTS env-step
  and wall-time budgets."""
  seeds = seeds or {}
  budget = {
    c: np.mean([d[c] for d in darts_runs.values()])
    if darts_runs and all(is_num(d[c]) for d in darts_runs.values())
    else None
    for c, _ in COMPUTE
  }
  head = (
    "| method | run | seed | architectures trained | env steps | wall time | selected "
    "| reported return | within RL-DARTS env steps | within RL-DARTS wall time |"
  )
  lines = [head, "|" + "---|" * 10]
  cell = lambda v: "-" if v is None else f"{v:.2f}"
  mark = lambda v, fresh: cell(v) + ("" if fresh or v is None else " †")
  rand = {"best": [], "steps": [], "wall": [], "b_steps": [], "b_wall": [], "n": []}
  for label, trials in random_runs.items():
    used = {c: best_so_far(trials, split, c)[0][-1] for c, _ in COMPUTE}
    best = float(best_so_far(trials, split, "env_steps")[1][-1])
    best = best if math.isfinite(best) else None
    pick, fresh = selected(trials, split)
    within = {
      c: best_within(best_so_far(trials, split, c), budget[c]) if budget[c] is not None else None
      for c, _ in COMPUTE
    }
    wall = used["wall_s"] if math.isfinite(used["wall_s"]) else None
    for k, v in (
      ("best", best),
      ("steps", used["env_steps"]),
      ("wall", wall),
      ("b_steps", within["env_steps"]),
      ("b_wall", within["wall_s"]),
      ("n", len(trials)),
    ):
      rand[k].append(v)
    lines.append(
      md_row(
        (
          "random search",
          label,
          seeds.get(label, "-"),
          len(trials),
          int(used["env_steps"]),
          format_duration(wall),
          "-" if pick is None else f"trial {pick['trial']}",
          mark(best, fresh),
          cell(within["env_steps"]),
          cell(within["wall_s"]),
        )
      )
    )
  darts = {"best": [], "steps": [], "wall": []}
  for label, d in darts_runs.items():
    own, fresh = reported(d, split)
    ret = _value(own)
    darts["best"].append(ret)
    darts["steps"].append(d["env_steps"])
    darts["wall"].append(d["wall_s"])
    lines.append(
      md_row(
        (
          "RL-DARTS",
          label,
          seeds.get(label, "-"),
          "supernet + 1",
          d["env_steps"],
          format_duration(d["wall_s"]),
          "its cell",
          mark(ret, fresh),
          "-",
          "-",
        )
      )
    )
  if random_runs:
    lines.append(
      md_row(
        (
          "**random search**",
          f"mean ± std ({len(random_runs)})",
          "-",
          _mean_std(rand["n"], "{:.1f}"),
          _mean_std(rand["steps"], "{:.0f}"),
          _mean_std(rand["wall"], "{:.1f} s"),
          "-",
          _mean_std(rand["best"]),
          _mean_std(rand["b_steps"]),
          _mean_std(rand["b_wall"]),
        )
      )
    )
  if darts_runs:
    lines.append(
      md_row(
        (
          "**RL-DARTS**",
          f"mean ± std ({len(darts_runs)})",
          "-",
          "supernet + 1",
          _mean_std(darts["steps"], "{:.0f}"),
          _mean_std(darts["wall"], "{:.1f} s"),
          "-",
          _mean_std(darts["best"]),
          "-",
          "-",
        )
      )
    )
  return "\n".join(lines)


def seed_scores(
  random_runs: Dict[str, List[dict]], darts_runs: Dict[str, dict], split: str, envs: Dict[str, dict]
):
  """({method: [(run label, {game: score})]}, score kind) of each seed's reported return
  (per game, normalized where possible; analysis/per_game.py)."""
  methods, kinds = {"random search": [], "RL-DARTS": []}, set()
  runs = [("random search", label, selected(t, split)[0]) for label, t in random_runs.items()]
  runs += [("RL-DARTS", label, d) for label, d in darts_runs.items()]
  for method, label, run in runs:
    raw = per_game.split_per_game(reported(run, split)[0]) if run else {}
    if raw:
      sc = per_game.scores(raw, envs.get(label, {}))
      methods[method].append((label, sc))
      kinds.add(per_game.kind(sc, envs.get(label, {})))
  return methods, ("normalized" if kinds == {"normalized"} else "raw")


def write_comparison(
  out_dir: str,
  random_dirs: Sequence[str],
  darts_pairs_: Sequence[Tuple[str, str]],
  title: str = "Random search vs RL-DARTS",
) -> str:
  """Writes out_dir/{search_efficiency.png, performance_profiles.png, report.md}; returns
  the path of report.md. random_dirs: random-search workdirs (one per seed); darts_pairs_:
  (search workdir, evaluate workdir of its discretized cell), one per seed, or a pair of
  seeds workdirs (darts_pairs)."""
  if not random_dirs and not darts_pairs_:
    raise ValueError("nothing to compare: give random-search workdirs and/or RL-DARTS pairs")
  random_runs, darts_runs, seeds, sources, envs = {}, {}, {}, [], {}
  taken: set = set()
  for d in random_dirs:
    label = file_label(os.path.basename(os.path.normpath(d)), taken)
    random_runs[label], seeds[label] = artifacts.read_trials(d), _seed(d)
    envs[label] = per_game.env_section(d)
    sources.append(("random search", label, d))
  for s, e in darts_pairs(darts_pairs_):
    name = os.path.basename(os.path.normpath(s))
    if name.startswith("seed_"):  # a seed of a seeds workdir: name it by both
      name = os.path.basename(os.path.dirname(os.path.normpath(s))) + "/" + name
    label = file_label(name, taken)
    darts_runs[label], seeds[label] = load_darts(s, e), _seed(s)
    envs[label] = darts_runs[label]["env"]
    sources.append(("RL-DARTS", label, f"{s} + {e}"))
  split = choose_split(list(random_runs.values()), [d["eval"] for d in darts_runs.values()])
  os.makedirs(out_dir, exist_ok=True)
  plot_comparison(random_runs, darts_runs, split, os.path.join(out_dir, "search_efficiency.png"))
  budget = [
    f"{np.mean([d[c] for d in darts_runs.values()]):.6g} {c}"
    for c, _ in COMPUTE
    if darts_runs and all(is_num(d[c]) for d in darts_runs.values())
  ]
  sel = {selection_split(t, split) for t in random_runs.values()}
  md = [
    f"# {title}",
    "",
    f"Return: `mean_return` on **{split.replace('_', ' ')}**"
    + ("" if split == artifacts.TEST else " (not every run has test levels)")
    + ", from "
    "each run's fresh evaluation (seeds no evaluation it was selected on used: "
    f"{artifacts.FRESH_EVAL}); † marks a run without one, whose own evaluation stands in. "
    "Random search: after each trial, the trial selected is the best so far on "
    + " / ".join(f"**{x.replace('_', ' ')}**" for x in sorted(sel))
    + "."
    + (
      ""
      if sel <= {artifacts.VALIDATION}
      else " **Selection on the reported split: these "
      "trials have no validation split, so the selected trial's return carries its own "
      "selection noise (biased upwards).**"
    )
    + f" Compute: training env steps and training wall time ({artifacts.METRICS} `wall_s`);"
    " final evaluations are not counted. Random search: cumulative over its trials in "
    "index order. RL-DARTS: the search plus one evaluation of its discretized cell. "
    "Mean ± std is over seeds (sample std, n-1).",
    "",
    "| method | run | workdir |",
    "|---|---|---|",
  ]
  md += [f"| {m} | {md_cell(label)} | `{md_cell(p)}` |" for m, label, p in sources]
  md += [
    "",
    "## Selected architecture's return vs compute",
    "",
    "![search efficiency](search_efficiency.png)",
    "",
    "## Table",
    "",
  ]
  if budget:
    md += [f"RL-DARTS budget (mean over seeds): {', '.join(budget)}.", ""]
  md += [comparison_table(random_runs, darts_runs, split, seeds), ""]
  methods, kind = seed_scores(random_runs, darts_runs, split, envs)
  md += ["## Across seeds", ""] + across_seeds.section(methods, kind, out_dir)
  return artifacts.write_report_md(out_dir, "\n".join(md))
