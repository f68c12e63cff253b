"""Reports from workdirs: alpha evolution, genotype diagrams, learning curves, summary table,
per-game evaluation tables, and aggregates across seeds.

Reads (never writes) the workdir files of WORKSPACE.md through darts_rl.artifacts: metrics
(rows merged per env step), alphas history, genotypes, config, and each run's reported
evaluation (artifacts.best_eval: its fresh evaluation eval_<N>_offset<K>.json when there is
one, else the one with the most episodes). A seeds workdir (launch/seeds.py), or workdirs
separated by commas, stands for its seeds and adds the 'Across seeds' section
(analysis/across_seeds.py). Writes `out_dir/`
(usually WORKDIR/report): alphas.png, collapse.png (the collapse monitor of the search runs:
analysis/collapse.py), genotype_<label>.png, curves.png, performance_profiles.png, report.md,
every file atomically.

`write_report` tolerates missing or unreadable optional inputs (it says so in report.md); each
run's metrics must be readable (the artifacts readers raise ArtifactError, one line).
"""

import logging
import math
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl import artifacts
from darts_rl.analysis import across_seeds, collapse, diagram, per_game
from darts_rl.analysis.render import file_label, md_cell, md_row, save_figure
from darts_rl.formatting import format_duration, is_num
from darts_rl.search import alphas as alphas_lib
from darts_rl.search.alphas import mixing_weights

TRAIN_RETURN = "train/return"
EVAL_KEYS = tuple(
  (f"eval/{split}/return", split.replace("_", " "))
  for split in artifacts.SPLITS
  if split != artifacts.VALIDATION
)  # curves: train (solid), test (dashed)


# --- Reading the workdir -------------------------------------------------------------------


def series(rows: Sequence[dict], key: str) -> Tuple[np.ndarray, np.ndarray]:
  """(env_steps [N], values [N]) of `key` over rows, skipping rows where it is missing/null/NaN."""
  steps, values = [], []
  for row in rows:
    v = row.get(key)
    if is_num(v):
      steps.append(int(row["env_steps"]))
      values.append(float(v))
  return np.asarray(steps, np.int64), np.asarray(values, np.float64)


def run_metrics(workdir: str) -> List[dict]:
  """artifacts.read_metrics, and [] for a random-policy workdir (it trains nothing, so it
  logs nothing: its evaluation alone is reported)."""
  try:
    return artifacts.read_metrics(workdir)
  except artifacts.ArtifactError:
    if _phase(workdir) == artifacts.RANDOM_POLICY:
      return []
    raise


def _phase(workdir: str) -> Optional[str]:
  try:
    return artifacts.phase(workdir)
  except artifacts.ArtifactError:
    return None


def encoder_kind(workdir: str) -> str:
  """config.json's encoder.kind, else eval.json's "encoder", else '-'."""
  for read, key in ((artifacts.read_config, "encoder"), (artifacts.read_eval, "encoder")):
    try:
      value = read(workdir).get(key)
    except artifacts.ArtifactError:
      continue
    if isinstance(value, dict):  # config.json's encoder section
      value = value.get("kind")
    if value:
      return str(value)
  return "-"


# --- Formatting ----------------------------------------------------------------------------


def standard_error(d: Optional[dict]) -> float:
  """Standard error of one split's mean return: its "stderr_return" (sample std, n-1, / √n),
  else std_return / √episodes (files written before stderr_return); nan when unknown."""
  d = d or {}
  if is_num(d.get("stderr_return")):
    return float(d["stderr_return"])
  std, n = d.get("std_return"), d.get("episodes")
  return std / math.sqrt(n) if is_num(std) and is_num(n) and n > 0 else float("nan")


def _mean_se(d: Optional[dict]) -> str:
  """'mean ± standard error (n=episodes)' of one split of an evaluation, as much as is there."""
  if not d or not is_num(d.get("mean_return")):
    return "-"
  se, n = standard_error(d), d.get("episodes")
  text = f"{d['mean_return']:.2f}" + (f" ± {se:.2f}" if math.isfinite(se) else "")
  return text + (f" (n={n})" if is_num(n) else "")


# --- Plots -----------------------------------------------------------------------------------


def alpha_panels(
  snaps: artifacts.AlphaSnapshots,
) -> List[Tuple[str, np.ndarray, List[str], Tuple[int, int]]]:
  """An alphas history (artifacts.read_alphas) -> [(title, weights [S, K], labels, (row, col))].

  Micro leaves "<ct>/node<i>" [S, 1 + i, K] give one panel per edge (row = cell type x node,
  col = input); any other leaf [S, ..., K] gives one panel per row of its flattened middle axes.
  Weights are `mixing_weights(alpha, temperature)` over the last axis.
  """
  op_names, temperature, data = snaps.op_names, snaps.temperature, snaps.leaves
  # The robustness options' entries (learned edge logits, scheduled values) are not op mixes.
  data = {k: v for k, v in data.items() if not alphas_lib.is_option_key(k)}
  micro, other = [], []
  for key, a in data.items():
    leaf = artifacts.micro_leaf(key)
    if leaf and a.ndim == 3 and a.shape[1] == leaf[1] + 1:
      micro.append((*leaf, key))
    else:
      other.append(key)
  panels = []
  row = 0
  cell_order = list(dict.fromkeys(ct for ct, _, _ in micro))
  for ct in cell_order:
    for _, i, key in sorted(x for x in micro if x[0] == ct):
      w = np.asarray(mixing_weights(data[key], temperature))  # [S, 1 + i, K]
      labels = _labels(op_names, w.shape[-1])
      for j in range(w.shape[1]):
        src = "in" if j == 0 else f"node{j - 1}"
        panels.append((f"{ct} n{i}<-{src}", w[:, j], labels, (row, j)))
      row += 1
  ncols = max([p[3][1] + 1 for p in panels], default=4)  # non-micro panels fill rows of this
  col = 0
  for key in sorted(other):
    a = np.asarray(data[key])
    w = np.asarray(mixing_weights(a, temperature)).reshape(a.shape[0], -1, a.shape[-1])
    labels = _labels(op_names, a.shape[-1])
    for r, idx in enumerate(np.ndindex(*a.shape[1:-1])):  # idx: position in the middle axes
      title = key if w.shape[1] == 1 else f"{key}[{','.join(map(str, idx))}]"
      panels.append((title, w[:, r], labels, (row, col)))
      col += 1
      if col == ncols:
        row, col = row + 1, 0
  return panels


def _labels(op_names: Sequence[str], k: int) -> List[str]:
  return list(op_names) if len(op_names) == k else [f"choice {c}" for c in range(k)]


def plot_alpha_evolution(snaps: artifacts.AlphaSnapshots, out_png: str) -> str:
  """An alphas history -> out_png: one subplot per edge, one line per op (mixing weight vs
  env_steps). Returns out_png."""
  panels = alpha_panels(snaps)
  steps = snaps.env_steps
  nrows = max(p[3][0] for p in panels) + 1
  ncols = max(p[3][1] for p in panels) + 1
  fig = Figure(figsize=(3.0 * ncols + 1.6, 1.9 * nrows + 0.8))
  gs = fig.add_gridspec(
    nrows,
    ncols,
    left=0.07,
    right=1 - 1.5 / (3.0 * ncols + 1.6),
    top=1 - 0.6 / (1.9 * nrows + 0.8),
    bottom=0.55 / (1.9 * nrows + 0.8),
    hspace=0.55,
    wspace=0.25,
  )
  all_labels = list(dict.fromkeys(label for p in panels for label in p[2]))
  colors = diagram.op_colors(all_labels)
  handles = {}
  for title, w, labels, (r, c) in panels:
    ax = fig.add_subplot(gs[r, c])
    for k, label in enumerate(labels):
      (line,) = ax.plot(
        steps, w[:, k], color=colors[label], lw=1.4, marker="o" if len(steps) == 1 else None, ms=3
      )
      handles.setdefault(label, line)
    ax.set_title(title, fontsize=9)
    # Zoom to the data: early in a search the weights move by a few percent around 1/K,
    # which a fixed [0, 1] axis hides.
    lo, hi = float(np.min(w)), float(np.max(w))
    pad = max(0.01, 0.1 * (hi - lo))
    ax.set_ylim(max(-0.02, lo - pad), min(1.02, hi + pad))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if r == nrows - 1 or not any(p[3] == (r + 1, c) for p in panels):
      ax.set_xlabel("env steps", fontsize=8)
    if c == 0:
      ax.set_ylabel("weight", fontsize=8)
  fig.legend(
    list(handles.values()),
    list(handles),
    loc="center right",
    fontsize=8,
    title=f"op (T={snaps.temperature:g})",
    title_fontsize=8,
    frameon=False,
  )
  fig.suptitle("Mixing weights over search", fontsize=11)
  return save_figure(fig, out_png)


def final_evaluations(runs: Mapping[str, str]) -> Dict[str, Dict[str, Tuple[float, float, int]]]:
  """{label: {split: (mean return, standard error, episodes)}} from each run's reported
  evaluation (artifacts.best_eval: its fresh evaluation, else the one with the most episodes).
  Runs without one (or with a malformed one, logged) are left out; the standard error is nan
  when unknown (standard_error)."""
  out = {}
  for label, wd in runs.items():
    try:
      ev, _ = artifacts.best_eval(wd)
    except artifacts.ArtifactError as e:
      logging.warning("%s", e)
      continue
    splits = {}
    for split in artifacts.SPLITS:
      s = (ev or {}).get(split)
      if not s:
        continue
      n = s.get("episodes", (ev or {}).get("episodes"))
      splits[split] = (
        float(s["mean_return"]),
        standard_error(dict(s, episodes=n)),
        int(n) if is_num(n) else 0,
      )
    if splits:
      out[label] = splits
  return out


def plot_learning_curves(runs: Mapping[str, str], out_png: str, key: str = TRAIN_RETURN) -> str:
  """runs {label: workdir} -> out_png with up to three panels: `key` vs env_steps per run; the
  in-training evaluations (train levels solid, test levels dashed) when some run has two or
  more; and each run's final evaluation (final_evaluations: mean ± standard error, train
  levels filled, test levels open), one column per run. Returns out_png."""
  data = {label: run_metrics(wd) for label, wd in runs.items()}
  finals = final_evaluations(runs)
  has_curves = any(series(rows, k)[0].size >= 2 for rows in data.values() for k, _ in EVAL_KEYS)
  n_panels = 1 + has_curves + bool(finals)
  fig = Figure(figsize=(1.0 + 5.0 * n_panels, 4.6))
  axes = fig.subplots(1, n_panels, squeeze=False)[0]
  colors = {label: f"C{i % 10}" for i, label in enumerate(runs)}
  ax = axes[0]
  plotted = False
  for label, rows in data.items():
    x, y = series(rows, key)
    if x.size:
      ax.plot(x, y, color=colors[label], lw=1.5, label=label, marker="o" if x.size == 1 else None)
      plotted = True
  ax.set_title(key, fontsize=10)
  _finish_axes(ax, plotted)
  if has_curves:
    ax = axes[1]
    for label, rows in data.items():
      for (k, name), style in zip(EVAL_KEYS, ("-", "--")):
        x, y = series(rows, k)
        if x.size:
          ax.plot(
            x,
            y,
            style,
            color=colors[label],
            lw=1.5,
            label=f"{label} ({name})",
            marker="o" if x.size == 1 else None,
          )
    ax.set_title("evaluation return during training", fontsize=10)
    _finish_axes(ax, True)
  if finals:
    ax = axes[-1]
    for i, (label, splits) in enumerate(finals.items()):
      for (split, name), dx, marker in (
        (("train_levels", "train levels"), -0.12, "o"),
        (("test_levels", "test levels"), 0.12, "s"),
      ):
        if split in splits:
          mean, se, _ = splits[split]
          ax.errorbar(
            [i + dx],
            [mean],
            yerr=[0.0 if math.isnan(se) else se],
            fmt=marker,
            color=colors[label],
            capsize=3,
            mfc="white" if split == "test_levels" else colors[label],
            label=name if i == 0 else None,
          )
    ax.set_xticks(range(len(finals)))
    ax.set_xticklabels(list(finals), rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(finals) - 0.4)
    ax.set_ylabel("return", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("final evaluation (mean ± standard error)", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
  fig.tight_layout()
  return save_figure(fig, out_png)


def _finish_axes(ax, plotted: bool):
  ax.set_xlabel("env steps", fontsize=9)
  ax.set_ylabel("return", fontsize=9)
  ax.grid(alpha=0.3)
  ax.tick_params(labelsize=8)
  if plotted:
    ax.legend(fontsize=7, frameon=False)
  else:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")


# --- Tables ----------------------------------------------------------------------------------


def final_return(rows: Sequence[dict], key: str = TRAIN_RETURN, last: int = 3) -> Optional[float]:
  """Mean of the last `last` logged (non-null) values of `key`, or None if there are none."""
  _, y = series(rows, key)
  return float(np.mean(y[-last:])) if y.size else None


def summary_table(runs: Mapping[str, str]) -> str:
  """runs {label: workdir} -> markdown table: run, encoder, env steps, final train return
  (mean of the last 3 logged 'train/return'), one column per evaluation split any run has
  (mean ± standard error, n = episodes) from each run's reported evaluation
  (artifacts.best_eval; else the last in-training evaluation, marked *), the file it comes
  from, wall time."""
  evals, metrics = {}, {}
  for label, wd in runs.items():
    metrics[label] = run_metrics(wd)
    try:
      evals[label] = artifacts.best_eval(wd)
    except artifacts.ArtifactError as e:
      logging.warning("%s", e)
      evals[label] = (None, None)
  splits = [
    s
    for s in artifacts.SPLITS
    if any(isinstance((ev or {}).get(s), dict) for ev, _ in evals.values())
    or any(series(rows, f"eval/{s}/return")[0].size for rows in metrics.values())
  ]
  header = (
    "| run | encoder | env steps | train return (last 3) | "
    + "".join(f"eval {s.replace('_', ' ')} | " for s in splits)
    + "evaluation | wall time |"
  )
  lines = [header, "|" + "---|" * (6 + len(splits))]
  footnote = any_eval = False
  for label, wd in runs.items():
    rows, (ev, name) = metrics[label], evals[label]
    any_eval |= ev is not None
    fr = final_return(rows)
    cells = []
    for split in splits:
      if ev is not None:
        cells.append(_mean_se(ev.get(split)))
      else:
        _, y = series(rows, f"eval/{split}/return")
        cells.append(f"{y[-1]:.2f}*" if y.size else "-")
        footnote |= bool(y.size)
    wall = series(rows, "wall_s")[1]
    lines.append(
      md_row(
        (
          label,
          encoder_kind(wd),
          rows[-1]["env_steps"] if rows else "-",
          "-" if fr is None else f"{fr:.2f}",
          *cells,
          name or "-",
          format_duration(wall[-1] if wall.size else None),
        )
      )
    )
  if any_eval:
    lines += [
      "",
      "± is the standard error of the mean over n episodes of one policy (sample "
      "std, n-1, / √n): it says nothing about seed-to-seed variance. Each run's "
      f"reported evaluation: its fresh evaluation ({artifacts.FRESH_EVAL}, other seeds: "
      "launch/reevaluate.py --seed_offset) when there is one, else the one with the "
      f"most episodes ({artifacts.REEVAL}, else {artifacts.EVAL}).",
    ]
  if footnote:
    lines += ["", f"\\* last in-training evaluation (no {artifacts.EVAL})."]
  return "\n".join(lines)


def per_game_table(runs: Mapping[str, str]) -> Optional[str]:
  """Markdown table of final train return per game ('train/return/<game>' keys), or None."""
  finals, games = {}, []
  prefix = TRAIN_RETURN + "/"
  for label, wd in runs.items():
    rows = run_metrics(wd)
    keys = sorted({k for row in rows for k in row if k.startswith(prefix)})
    finals[label] = {k[len(prefix) :]: final_return(rows, k) for k in keys}
    games += [g for g in finals[label] if g not in games]
  if not games:
    return None
  lines = [
    "| run | " + " | ".join(md_cell(g) for g in games) + " |",
    "|" + "---|" * (len(games) + 1),
  ]
  for label, f in finals.items():
    vals = ["-" if f.get(g) is None else f"{f[g]:.2f}" for g in games]
    lines.append("| " + " | ".join([md_cell(label)] + vals) + " |")
  return "\n".join(lines)


# --- The report ------------------------------------------------------------------------------


def expand_seeds(
  runs: Mapping[str, str],
) -> Tuple[Dict[str, str], Dict[str, List[Tuple[int, str]]]]:
  """({label: workdir} with each group of seeds (a seeds workdir, or workdirs separated by
  commas: across_seeds.group_runs) replaced by its seeds as 'label/seed_S',
  {label: [(seed, workdir)]} of the groups)."""
  out, groups = {}, {}
  for label, spec in runs.items():
    group = across_seeds.group_runs(spec)
    if group is None:
      out[label] = spec
      continue
    groups[label] = group
    for seed, d in group:
      out[f"{label}/seed_{seed}"] = d
  return out, groups


def across_seeds_lines(groups: Mapping[str, List[Tuple[int, str]]], out_dir: str) -> List[str]:
  """The 'Across seeds' section for {method label: [(seed, workdir)]}."""
  methods, kinds = {}, set()
  for label, group in groups.items():
    methods[label], k = across_seeds.seed_scores(group)
    kinds.add(k)
  return across_seeds.section(methods, "normalized" if kinds == {"normalized"} else "raw", out_dir)


def write_report(
  out_dir: str,
  runs: Mapping[str, str],
  search_dir: Optional[str] = None,
  title: str = "darts-rl report",
) -> str:
  """Writes out_dir/{alphas.png, genotype_<label>.png, curves.png, report.md}; returns the path
  of report.md.

  runs: {label: workdir}, each with a readable metrics.jsonl (else ArtifactError); a seeds
    workdir (launch/seeds.py), or workdirs separated by commas (seeds run one by one), stand
    for their seeds ('label/seed_S' rows) and add the 'Across seeds' section (IQM, mean,
    intervals, probability of improvement, profiles);
  search_dir: an optional search workdir whose alphas.npz (and genotype.json) are drawn.
  Missing or unreadable optional inputs (alphas.npz, genotype.json, eval.json, config.json)
  are skipped with a note.
  """
  runs, groups = expand_seeds(runs)
  metrics = {label: run_metrics(wd) for label, wd in runs.items()}
  if search_dir is not None and not os.path.isdir(search_dir):
    raise ValueError(f"{search_dir}: search_dir is not a directory")
  if not runs and search_dir is None:
    raise ValueError("nothing to report: give at least one run workdir or a search_dir")
  os.makedirs(out_dir, exist_ok=True)
  notes: List[str] = []
  md = [f"# {title}", ""]
  # Paths relative to the report, so a report moved with its runs (results folders) holds.
  where = lambda wd: md_cell(os.path.relpath(wd, out_dir))
  if runs:
    md += ["| run | workdir |", "|---|---|"]
    md += [f"| {md_cell(label)} | `{where(wd)}` |" for label, wd in runs.items()]
    md += [""]
  if search_dir is not None:
    md += [f"Search workdir: `{where(search_dir)}`", ""]

  if runs:
    md += ["## Summary", "", summary_table(runs), ""]
    eval_games = per_game.per_game_tables(runs)
    if eval_games:
      md += ["### Final evaluation per game", "", eval_games, ""]
    train_games = per_game_table(runs)
    if train_games:
      md += ["### Final train return per game", "", train_games, ""]
    if groups:
      md += ["## Across seeds", ""] + across_seeds_lines(groups, out_dir)
    plot_learning_curves(runs, os.path.join(out_dir, "curves.png"))
    md += ["## Learning curves", "", "![learning curves](curves.png)", ""]
    for label, wd in runs.items():
      trains = _phase(wd) != artifacts.RANDOM_POLICY  # a random policy logs nothing
      if trains and not series(metrics[label], TRAIN_RETURN)[0].size:
        notes.append(f"run '{label}': no '{TRAIN_RETURN}' values in {artifacts.METRICS}.")
      try:
        artifacts.best_eval(wd)
      except artifacts.ArtifactError as e:
        notes.append(f"run '{label}': evaluation skipped: {e}")

  searches = {label: metrics[label] for label, wd in runs.items() if _phase(wd) == "search"}
  search_dirs = {label: wd for label, wd in runs.items() if label in searches}
  if search_dir is not None and not any(
    os.path.realpath(wd) == os.path.realpath(search_dir) for wd in search_dirs.values()
  ):
    searches["search"], search_dirs["search"] = run_metrics(search_dir), search_dir
  if collapse.plot_collapse_monitor(searches, os.path.join(out_dir, "collapse.png")):
    md += [
      "## Collapse monitor",
      "",
      "![eigenvalue and parameter-free share over search](collapse.png)",
      "",
      collapse.collapse_table(searches, search_dirs) or "",
      "",
    ]

  if search_dir is not None:
    md += ["## Architecture weights", ""]
    try:
      plot_alpha_evolution(artifacts.read_alphas(search_dir), os.path.join(out_dir, "alphas.png"))
      md += ["![mixing weights over search](alphas.png)", ""]
    except artifacts.ArtifactError as e:
      notes.append(f"no alpha-evolution plot: {e}")
      md += ["(no alpha-evolution plot; see Notes.)", ""]

  # Genotypes: every run dir, then the search dir unless it is one of the runs.
  sources = list(runs.items())
  if search_dir is not None and not any(
    os.path.realpath(wd) == os.path.realpath(search_dir) for wd in runs.values()
  ):
    sources.append(("search", search_dir))
  taken: set = set()
  genotype_md = []
  for label, wd in sources:
    path = artifacts.genotype_path(wd)
    if not os.path.isfile(path):
      continue
    try:
      g = artifacts.load_genotype(path)
    except artifacts.ArtifactError as e:
      notes.append(f"run '{label}': genotype skipped: {e}")
      continue
    png = f"genotype_{file_label(label, taken)}.png"
    diagram.draw_genotype(g, os.path.join(out_dir, png))
    genotype_md += [
      f"### {label}",
      "",
      f"![genotype of {label}]({png})",
      "",
      "```",
      g.describe(),
      "```",
      "",
    ]
  if genotype_md:
    md += ["## Genotypes", ""] + genotype_md
  else:
    notes.append(f"no {artifacts.GENOTYPE} in any workdir; no genotype diagram.")

  if notes:
    md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
  return artifacts.write_report_md(out_dir, "\n".join(md))
