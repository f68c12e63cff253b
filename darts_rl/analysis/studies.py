"""A study's report: tables and figures from its finished workdirs, redrawn without training.

    write_report(W, record) -> W/reports/<name>/report.md   (launch/study.py --report redraws it)

record: the study's record (darts_rl/artifacts/studies.py): its envs, seeds and each method's
steps; the runs are read through darts_rl.artifacts, never by importing the study file.

Sections, as the study file names them in `reports`:
  per_game    per env: each method's final run (the cell retrained from the end of its search,
              a baseline, a transferred cell) as the mean over seeds, raw and normalized, and as
              a percentage of the baseline's mean return (the paper's "% of IMPALA-CNN"); then
              IQM and mean with stratified-bootstrap intervals, probability of improvement and
              performance profiles over seeds (analysis/across_seeds.py).
  trajectory  the cells discretized at several points of each search and retrained: their
              return against search progress, next to the supernet's own training return at
              the same point, and the Spearman rank correlation of the two with a bootstrap
              interval over seeds.
  efficiency  random cells of the same space, selected on validation levels, against the
              trajectory: best-so-far return against cumulative env steps, and per seed the
              compute ratio (random search's env steps to its final pick / DARTS's env steps,
              search so far plus retraining, to first reach that pick's return).
  collapse    searches compared as searches (an ablation of search options): each arm's
              options (the arch settings that differ from the first arm's), its collapse
              monitor over the search (figure and table: eigenvalue, parameter-free share, early
              stopping, the parameter-free edges of the cell discretized at the end, when a
              Cells or Retrain step made it) and the searches' own final evaluation across
              seeds, each arm against the first.
Every return is a run's fresh evaluation on test levels (other seeds than any evaluation that
trained or selected it); selection uses validation levels only.
"""

import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl import artifacts
from darts_rl.analysis import across_seeds, collapse, compare, per_game, similarity
from darts_rl.analysis.render import decimals, md_row, save_figure
from darts_rl.formatting import is_num

REPORTS = ("per_game", "trajectory", "efficiency", "collapse")
TRAIN_RETURN = "train/return"
BOOTSTRAP_REPS = 2000
# At the smoke size (the test suite's: one seed, no learning) the report draws fewer
# resamples: the same code, and a smoke study's intervals mean nothing at any count.
SMOKE_BOOTSTRAP_REPS = 100


def resamples(record: dict) -> dict:
  """Keyword arguments for every bootstrap of the study's report: {"reps": N} at the smoke
  size, else none (each interval's own default)."""
  return {"reps": SMOKE_BOOTSTRAP_REPS} if record["size"] == "smoke" else {}


# --- Reading --------------------------------------------------------------------------------


def seed_returns(seeds_dir: str) -> Dict[int, float]:
  """{seed: reported return (fresh evaluation, test levels)} of a multi-seed workdir's
  finished seeds ({} when there is none)."""
  if not os.path.isfile(os.path.join(seeds_dir, artifacts.SEEDS)):
    return {}
  out = {}
  for r in artifacts.read_seeds(seeds_dir):
    v = artifacts.reported_return(r)
    if v is not None:
      out[r["seed"]] = v
  return out


def methods(record: dict) -> List[str]:
  """The study's methods in its own order (the first is the one a report compares the others
  with): the record's "methods" object is stored with sorted keys, its "nodes" list in the
  plan's order, method by method."""
  order = dict.fromkeys(n["name"].split("/")[0] for n in record["nodes"])
  named = [m for m in order if m in record["methods"]]
  return named + sorted(set(record["methods"]) - set(named))


def steps_of(record: dict, kind: str):
  """(method, step) for every step of that kind ('search', 'retrain', 'baseline', 'random')."""
  return [
    (m, step)
    for m in methods(record)
    for step in record["methods"][m]["steps"]
    if step["step"] == kind
  ]


def envs_of(record: dict, method: str) -> List[str]:
  return record["methods"][method]["envs"] or record["envs"]


def final_steps(record: dict) -> List[Tuple[str, str]]:
  """(method, step dir name) of every method's final run: its retrain at the end of the
  search, or its baseline."""
  out = []
  for m in methods(record):
    for step in record["methods"][m]["steps"]:
      if step["step"] == "retrain" and artifacts.FINAL in step["at"]:
        out.append((m, "retrain"))
      elif step["step"] == "baseline":
        out.append((m, "baseline"))
  return out


def baseline_method(record: dict) -> Optional[str]:
  return next((m for m, _ in steps_of(record, "baseline")), None)


def supernet_return(search_seed_dir: str, env_steps: int) -> float:
  """The supernet's own training return at `env_steps`: the last finite 'train/return' logged
  at or before it (NaN if none)."""
  best = math.nan
  for row in artifacts.read_metrics(search_seed_dir):
    if row.get("env_steps", math.inf) <= env_steps and is_num(row.get(TRAIN_RETURN)):
      best = float(row[TRAIN_RETURN])
  return best


def snapshot_steps(search_seed_dir: str, fraction: float) -> int:
  """Env steps of the alphas snapshot that the cell at `fraction` was discretized from."""
  snaps = artifacts.read_alphas(search_seed_dir)
  return int(snaps.env_steps[artifacts.snapshot_index(snaps.env_steps, fraction)])


# --- Sections -------------------------------------------------------------------------------


def per_game_section(workdir: str, record: dict, out_dir: str) -> List[str]:
  methods = final_steps(record)
  base = baseline_method(record)
  header = ["env", "game", "method", "seeds", "mean return", "normalized", f"% of {base or '-'}"]
  lines = ["## Per game", "", md_row(header), "|" + "---|" * len(header)]
  runs: Dict[str, Dict[str, Dict[str, float]]] = {}  # method -> seed label -> {game: score}
  kinds = set()
  for env in record["envs"]:
    raw: Dict[str, Dict[str, List[float]]] = {}  # method -> game -> per-seed returns
    norm: Dict[str, Dict[str, List[float]]] = {}
    for m, step in methods:
      d = artifacts.step_dir(workdir, m, env, step)
      if not os.path.isfile(os.path.join(d, artifacts.SEEDS)):
        continue
      for seed, wd in across_seeds.seed_runs(d):
        games_raw, _ = per_game.run_games(wd)
        env_cfg = per_game.env_section(wd)
        scores = per_game.scores(games_raw, env_cfg)
        kinds.add(per_game.kind(scores, env_cfg))
        runs.setdefault(m, {}).setdefault(f"seed {seed}", {}).update(scores)
        for g, v in per_game.named(games_raw, env_cfg).items():
          raw.setdefault(m, {}).setdefault(g, []).append(v)
        for g, v in scores.items():
          norm.setdefault(m, {}).setdefault(g, []).append(v)
    for g in sorted({g for per in raw.values() for g in per}):
      b = np.mean(raw.get(base, {}).get(g, [math.nan])) if base else math.nan
      for m, _ in methods:
        r, n = raw.get(m, {}).get(g), norm.get(m, {}).get(g)
        if not r:
          continue
        mean = float(np.mean(r))
        pct = 100 * mean / b if math.isfinite(b) and b != 0 else math.nan
        lines.append(md_row([env, g, m, len(r), _num(mean), _num(float(np.mean(n))), _num(pct, 0)]))
  lines += [
    "",
    "Mean return: over seeds, each seed's fresh evaluation on test levels. Normalized: per game "
    "(R - R_min) / (R_max - R_min) for Procgen easy mode (the raw return elsewhere). % of the "
    "baseline: the ratio of mean returns, as the paper states its results.",
    "",
    "## Across seeds",
    "",
  ]
  kind = "normalized" if kinds == {"normalized"} else "raw"
  scored = {m: sorted(by_seed.items()) for m, by_seed in runs.items() if by_seed}
  return lines + across_seeds.section(scored, kind, out_dir, **resamples(record))


def trajectory_points(workdir: str, record: dict) -> List[dict]:
  """One row per (method, env, seed, fraction) with a retrained cell: env_steps of its alphas
  snapshot, the cell's return, the supernet's return there."""
  rows = []
  for m, step in steps_of(record, "retrain"):
    if step["source"] or len(step["at"]) < 2:
      continue
    for env in envs_of(record, m):
      search = artifacts.step_dir(workdir, m, env, "search")
      for f in step["at"]:
        rets = seed_returns(artifacts.step_dir(workdir, m, env, artifacts.retrain_step(f)))
        for seed, ret in sorted(rets.items()):
          sd = artifacts.seed_dir(search, seed)
          steps = snapshot_steps(sd, f)
          rows.append(
            dict(
              method=m,
              env=env,
              seed=seed,
              fraction=f,
              search_env_steps=steps,
              cell_return=ret,
              supernet_return=supernet_return(sd, steps),
            )
          )
  return rows


def rank_correlation(points: Sequence[dict], reps: int = BOOTSTRAP_REPS, seed: int = 0):
  """(Spearman rho of cell vs supernet return over all points, 95% bootstrap interval
  resampling seeds with replacement, each with all its points); NaN where undefined."""
  pts = [p for p in points if math.isfinite(p["supernet_return"])]
  rho = (
    similarity.spearman(
      np.array([p["cell_return"] for p in pts]), np.array([p["supernet_return"] for p in pts])
    )
    if len(pts) > 2
    else math.nan
  )
  seeds = sorted({(p["env"], p["seed"]) for p in pts})
  if len(seeds) < 2 or not math.isfinite(rho):
    return rho, (math.nan, math.nan)
  by_seed = {s: [p for p in pts if (p["env"], p["seed"]) == s] for s in seeds}
  rng = np.random.default_rng(seed)
  boots = []
  for _ in range(reps):
    pick = [by_seed[seeds[i]] for i in rng.integers(0, len(seeds), len(seeds))]
    sample = [p for group in pick for p in group]
    r = similarity.spearman(
      np.array([p["cell_return"] for p in sample]), np.array([p["supernet_return"] for p in sample])
    )
    if math.isfinite(r):
      boots.append(r)
  if not boots:
    return rho, (math.nan, math.nan)
  return rho, (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))


def plot_trajectory(points: Sequence[dict], out_png: str) -> str:
  fig = Figure(figsize=(6.5, 4))
  ax = fig.subplots()
  ax2 = ax.twinx()
  groups = sorted({(p["method"], p["env"], p["seed"]) for p in points})
  for i, g in enumerate(groups):
    pts = sorted(
      (p for p in points if (p["method"], p["env"], p["seed"]) == g), key=lambda p: p["fraction"]
    )
    x = [100 * p["fraction"] for p in pts]
    label = f"{g[1]} seed {g[2]}"
    ax.plot(x, [p["cell_return"] for p in pts], "o-", color=f"C{i % 10}", label=f"cell, {label}")
    ax2.plot(x, [p["supernet_return"] for p in pts], "x--", color=f"C{i % 10}", alpha=0.6)
  ax2.set_ylabel("supernet: training return (dashed)", fontsize=9)
  return _finish(
    fig,
    ax,
    "search progress where the cell was discretized (%)",
    "retrained cell: test return (solid)",
    "Discrete cells along the search",
    out_png,
  )


def trajectory_section(workdir: str, record: dict, out_dir: str) -> List[str]:
  points = trajectory_points(workdir, record)
  lines = ["## Trajectory: the discrete cell along the search", ""]
  if not points:
    return lines + ["No retrained cell from an intermediate point yet.", ""]
  header = ["env", "seed", "search progress", "search env steps", "cell return", "supernet return"]
  lines += [md_row(header), "|" + "---|" * len(header)]
  for p in points:
    lines.append(
      md_row(
        [
          p["env"],
          p["seed"],
          f"{100 * p['fraction']:.0f}%",
          p["search_env_steps"],
          _num(p["cell_return"]),
          _num(p["supernet_return"]),
        ]
      )
    )
  rho, (lo, hi) = rank_correlation(points, **resamples(record))
  seeds = len({(p["env"], p["seed"]) for p in points})
  fractions = sorted({p["fraction"] for p in points})
  by_f = [np.mean([p["cell_return"] for p in points if p["fraction"] == f]) for f in fractions]
  lines += [
    "",
    "Mean cell return by search progress: "
    + ", ".join(f"{100 * f:.0f}%: {_num(v)}" for f, v in zip(fractions, by_f)),
    "",
    f"Spearman rank correlation of cell and supernet return over {len(points)} points: "
    f"{_num(rho, 2)} (95% bootstrap interval over {seeds} seeds: [{_num(lo, 2)}, {_num(hi, 2)}]).",
    "",
    f"![trajectory]({_figure(plot_trajectory, points, out_dir, 'trajectory.png')})",
    "",
  ]
  return lines


def efficiency_rows(workdir: str, record: dict) -> List[dict]:
  """Per (env, seed): the random search's best-so-far curve and the DARTS cells' (compute,
  return) points, and the compute ratio (None where DARTS never reaches random search's
  final pick)."""
  darts = [(m, st) for m, st in steps_of(record, "retrain") if not st["source"]]
  randoms = [m for m, _ in steps_of(record, "random")]
  if not darts or not randoms:
    return []
  (dm, dstep), rm = darts[0], randoms[0]
  rows = []
  for env in envs_of(record, rm):
    for seed in record["seeds"]:
      rdir = artifacts.random_dir(workdir, rm, env, seed)
      if not os.path.isfile(os.path.join(rdir, artifacts.TRIALS)):
        continue
      trials = artifacts.read_trials(rdir)
      used, best = compare.best_so_far(trials, artifacts.TEST, "env_steps")
      search = artifacts.seed_dir(artifacts.step_dir(workdir, dm, env, "search"), seed)
      points = []
      for f in dstep["at"]:
        rd = artifacts.step_dir(workdir, dm, env, artifacts.retrain_step(f))
        ret = seed_returns(rd).get(seed)
        if ret is None:
          continue
        cost = (
          snapshot_steps(search, f) + artifacts.training_compute(artifacts.seed_dir(rd, seed))[0]
        )
        points.append((cost, ret))
      points.sort()
      ratio = None
      if np.isfinite(best).any() and points:
        target = best[np.isfinite(best)][-1]
        rs_cost = float(used[np.flatnonzero(best == target)[0]])
        reach = [c for c, r in points if r >= target]
        ratio = rs_cost / reach[0] if reach else None
        rows.append(
          dict(
            env=env,
            seed=seed,
            used=used,
            best=best,
            points=points,
            target=target,
            rs_cost=rs_cost,
            ratio=ratio,
          )
        )
  return rows


def plot_efficiency(rows: Sequence[dict], out_png: str) -> str:
  fig = Figure(figsize=(6.5, 4))
  ax = fig.subplots()
  for i, r in enumerate(rows):
    c = f"C{i % 10}"
    ax.step(
      r["used"],
      r["best"],
      where="post",
      color=c,
      alpha=0.7,
      label=f"random, {r['env']} seed {r['seed']}",
    )
    x, y = zip(*r["points"]) if r["points"] else ((), ())
    ax.plot(x, y, "o-", color=c, lw=2, label=f"DARTS, {r['env']} seed {r['seed']}")
  return _finish(
    fig,
    ax,
    "cumulative env steps (search so far + retraining; random: all trials)",
    "test return (fresh evaluation)",
    "Search efficiency: DARTS cells vs random cells",
    out_png,
  )


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, out_png: str) -> str:
  """Labels, grid, legend and title of a report figure; saves it."""
  ax.set_xlabel(xlabel, fontsize=9)
  ax.set_ylabel(ylabel, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, frameon=False)
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  return save_figure(fig, out_png)


def ratio_interval(ratios: Sequence[float], reps: int = BOOTSTRAP_REPS, seed: int = 0):
  """(geometric mean, 95% percentile bootstrap interval over seeds); NaNs when < 2 ratios."""
  logs = np.log(np.asarray(ratios, np.float64))
  if not logs.size:
    return math.nan, (math.nan, math.nan)
  gm = float(np.exp(logs.mean()))
  if logs.size < 2:
    return gm, (math.nan, math.nan)
  rng = np.random.default_rng(seed)
  boots = np.exp(logs[rng.integers(0, logs.size, (reps, logs.size))].mean(axis=1))
  return gm, (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))


def efficiency_section(workdir: str, record: dict, out_dir: str) -> List[str]:
  rows = efficiency_rows(workdir, record)
  lines = ["## Efficiency: DARTS vs random cells", ""]
  if not rows:
    return lines + ["No finished random search with DARTS cells to compare yet.", ""]
  header = [
    "env",
    "seed",
    "random pick's return",
    "random env steps to it",
    "DARTS env steps to reach it",
    "ratio",
  ]
  lines += [md_row(header), "|" + "---|" * len(header)]
  for r in rows:
    reach = r["rs_cost"] / r["ratio"] if r["ratio"] else None
    lines.append(
      md_row(
        [
          r["env"],
          r["seed"],
          _num(r["target"]),
          int(r["rs_cost"]),
          "never" if reach is None else int(reach),
          _num(r["ratio"], 2),
        ]
      )
    )
  reached = [r["ratio"] for r in rows if r["ratio"]]
  gm, (lo, hi) = ratio_interval(reached, **resamples(record))
  lines += [
    "",
    f"DARTS reached the random search's final pick in {len(reached)} of {len(rows)} seeds; "
    f"compute ratio over those (geometric mean): {_num(gm, 2)}x "
    f"(95% bootstrap interval over seeds: [{_num(lo, 2)}, {_num(hi, 2)}]). A seed where DARTS "
    "never reached it is not in the ratio: read the count with it.",
    "",
    f"![efficiency]({_figure(plot_efficiency, rows, out_dir, 'efficiency.png')})",
    "",
  ]
  return lines


def collapse_section(workdir: str, record: dict, out_dir: str) -> List[str]:
  """Each method's search (every env, every finished seed) as a search: options, collapse
  monitor, the searches' own final evaluation across seeds."""
  lines = ["## Collapse: the searches compared", ""]
  searches: Dict[str, list] = {}  # 'method[/env]/seed_S' -> metrics rows
  dirs: Dict[str, str] = {}
  cells: Dict[str, str] = {}  # label -> the cell discretized at the end (a Cells step's)
  runs: Dict[str, Dict[str, Dict[str, float]]] = {}  # method -> seed label -> {game: score}
  kinds, arms, reference = set(), [], None
  for m, _ in steps_of(record, "search"):
    envs = envs_of(record, m)
    for env in envs:
      d = artifacts.step_dir(workdir, m, env, "search")
      if not os.path.isfile(os.path.join(d, artifacts.SEEDS)):
        continue
      seeds = across_seeds.seed_runs(d)
      for seed, wd in seeds:
        label = f"{m}/seed_{seed}" if len(envs) == 1 else f"{m}/{env}/seed_{seed}"
        searches[label], dirs[label] = artifacts.read_metrics(wd), wd
        cells[label] = artifacts.cell_path(workdir, m, env, seed, artifacts.FINAL)
      scored, kind = across_seeds.seed_scores(seeds)
      kinds.add(kind)
      for seed_label, scores in scored:
        runs.setdefault(m, {}).setdefault(seed_label, {}).update(scores)
      if seeds and m not in [a for a, _ in arms]:
        arch = artifacts.read_config(seeds[0][1])["arch"]
        reference = arch if reference is None else reference
        diff = artifacts.config_differences(reference, arch, prefix="arch.")
        arms.append((m, [f"{k}={v}" for k, _, v in diff]))
  if not arms:
    return lines + ["No finished search yet.", ""]
  first = arms[0][0]
  header = ["method", "options (settings that differ from " + first + ")", "seeds"]
  lines += [md_row(header), "|" + "---|" * len(header)]
  for m, diff in arms:
    options = "the reference" if m == first else ", ".join(diff) or "none"
    lines.append(md_row([m, options, len(runs.get(m, {}))]))
  lines.append("")
  if collapse.plot_collapse_monitor(searches, os.path.join(out_dir, "collapse.png")):
    lines += [
      "![eigenvalue and parameter-free share over each search](collapse.png)",
      "",
      collapse.collapse_table(searches, dirs, cells) or "",
      "",
    ]
  else:
    lines += ["No search logged the collapse monitor.", ""]
  lines += [
    "Returns: each search's own final evaluation (the supernet, or its alphas frozen by early "
    "stopping, playing; not a retrained cell).",
    "",
  ]
  kind = "normalized" if kinds == {"normalized"} else "raw"
  scored = {m: sorted(by_seed.items()) for m, by_seed in runs.items() if by_seed}
  return lines + across_seeds.section(scored, kind, out_dir, against=first, **resamples(record))


SECTIONS = {
  "per_game": per_game_section,
  "trajectory": trajectory_section,
  "efficiency": efficiency_section,
  "collapse": collapse_section,
}


def write_report(workdir: str, record: dict) -> str:
  """Writes W/reports/<name>/report.md (and its figures) from the study's finished runs."""
  name = record["study"]
  out_dir = artifacts.report_dir(workdir, name)
  os.makedirs(out_dir, exist_ok=True)
  lines = [f"# Study {name}", "", record["description"], ""]
  lines += [
    f"Envs: {', '.join(record['envs'])}; seeds: {', '.join(map(str, record['seeds']))}; "
    f"methods: {', '.join(methods(record))}; size: {record['size']} ({record['spec']}).",
    "",
  ]
  for section in record["reports"]:
    if section not in SECTIONS:
      raise ValueError(f"study {name}: unknown report '{section}'; valid: {', '.join(SECTIONS)}")
    lines += SECTIONS[section](workdir, record, out_dir)
  return artifacts.write_report_md(out_dir, "\n".join(lines) + "\n")


def _figure(plot, data, out_dir: str, name: str) -> str:
  """Draws `data` into out_dir/name; returns the name (report.md links it relatively)."""
  plot(data, os.path.join(out_dir, name))
  return name


def _num(v, d: Optional[int] = None) -> str:
  if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
    return "-"
  return f"{v:.{decimals([v]) if d is None else d}f}"
