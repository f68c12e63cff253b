"""Reports from workdirs: alpha evolution, genotype diagrams, learning curves, summary table.

Reads (never writes) the workdir contract of WORKSPACE.md:
  metrics.jsonl   one JSON object per log step: "env_steps", "wall_s", "train/return", ...;
                  a resumed run may repeat env_steps values: the last occurrence wins.
  alphas.npz      search only: "env_steps" [S], "op_names" [K], "temperature" (scalar),
                  "<cell_type>/node<i>" [S, 1 + i, K] raw alphas.
  genotype.json   Genotype JSON.   eval.json   final evaluation summary.   config.json.
  eval_<N>.json   re-evaluations with N episodes per split (launch/reevaluate.py); the summary
                  table shows the evaluation with the most episodes.
and writes `out_dir/` (usually WORKDIR/report): alphas.png, genotype_<label>.png, curves.png,
report.md. Every file is written atomically (temp file in the same directory, then rename).

`write_report` tolerates missing or unreadable optional inputs (it says so in report.md); the
plotting functions are strict and raise ValueError on malformed input.
"""
import json
import logging
import math
import os
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from darts_rl import workdir as workdir_lib
from darts_rl.search import diagram
from darts_rl.search.alphas import mixing_weights
from darts_rl.search.genotype import Genotype

METRICS = "metrics.jsonl"
ALPHAS = "alphas.npz"
GENOTYPE = "genotype.json"
EVAL = "eval.json"
CONFIG = "config.json"
TRAIN_RETURN = "train/return"
EVAL_KEYS = (("eval/train_levels/return", "train levels"), ("eval/test_levels/return", "test levels"))
_ALPHA_META = ("env_steps", "op_names", "temperature")
_MICRO_KEY = re.compile(r"^(?P<ct>.+)/node(?P<i>\d+)$")


# --- Reading the workdir -------------------------------------------------------------------

def load_metrics(workdir: str) -> List[dict]:
  """WORKDIR/metrics.jsonl -> rows sorted by env_steps, one per env_steps (merged, last wins).

  A truncated last line (a run killed mid-write) is ignored; any other malformed line, or a row
  without an integer "env_steps", is a ValueError naming the file and line.
  """
  path = os.path.join(workdir, METRICS)
  if not os.path.isfile(path):
    raise ValueError(f"{workdir}: no {METRICS} (is this a darts-rl workdir?)")
  with open(path) as f:
    lines = f.read().split("\n")
  last = max((n for n, l in enumerate(lines) if l.strip()), default=-1)
  rows = {}
  for n, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      if n == last:
        logging.warning("%s:%d: ignoring truncated last line", path, n + 1)
        continue
      raise ValueError(f"{path}:{n + 1}: not valid JSON: {e}") from None
    steps = row.get("env_steps") if isinstance(row, dict) else None
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps != int(steps):
      raise ValueError(f"{path}:{n + 1}: a metrics row needs an integer 'env_steps', got {steps!r}")
    # Rows of one step are merged, later values winning (the final evaluation adds a row at
    # the last step; a resumed run's writer already dropped rows past its checkpoint).
    rows[int(steps)] = {**rows.get(int(steps), {}), **row}
  return [rows[s] for s in sorted(rows)]


def series(rows: Sequence[dict], key: str) -> Tuple[np.ndarray, np.ndarray]:
  """(env_steps [N], values [N]) of `key` over rows, skipping rows where it is missing/null/NaN."""
  steps, values = [], []
  for row in rows:
    v = row.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
      steps.append(int(row["env_steps"]))
      values.append(float(v))
  return np.asarray(steps, np.int64), np.asarray(values, np.float64)


def read_json(path: str) -> dict:
  with open(path) as f:
    try:
      d = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not valid JSON: {e}") from None
  if not isinstance(d, dict):
    raise ValueError(f"{path}: expected a JSON object")
  return d


def load_eval(workdir: str) -> Optional[dict]:
  """WORKDIR/eval.json as a dict, or None when absent. ValueError if malformed."""
  path = os.path.join(workdir, EVAL)
  if not os.path.isfile(path):
    return None
  return _load_eval_file(path)


def _load_eval_file(path: str) -> dict:
  d = read_json(path)
  for split in ("train_levels", "test_levels"):
    s = d.get(split)
    if s is not None and not (isinstance(s, dict) and is_num(s.get("mean_return"))):
      raise ValueError(f"{path}: '{split}' must be an object with a numeric 'mean_return'")
  return d


_REEVAL = re.compile(r"^eval_(?P<n>\d+)\.json$")


def load_best_eval(workdir: str) -> Tuple[Optional[dict], Optional[str]]:
  """(evaluation, file name) with the most episodes: a re-evaluation eval_<N>.json (largest N)
  when there is one, else eval.json; (None, None) when there is neither. ValueError if the
  chosen file is malformed."""
  names = os.listdir(workdir) if os.path.isdir(workdir) else []
  reevals = sorted((int(m["n"]), n) for n in names for m in [_REEVAL.match(n)] if m)
  if reevals:
    name = reevals[-1][1]
    return _load_eval_file(os.path.join(workdir, name)), name
  d = load_eval(workdir)
  return (d, EVAL) if d is not None else (None, None)


def load_genotype(path: str):
  """genotype.json -> Genotype, or MacroGenotype when its "format" says so. ValueError if it is
  not a valid genotype of either kind."""
  try:
    d = read_json(path)
    if str(d.get("format", "")).startswith("darts_rl.macro_genotype/"):
      from darts_rl.search import macro  # only macro runs need it
      return macro.MacroGenotype.from_dict(d)
    return Genotype.from_dict(d)
  except ValueError as e:
    raise ValueError(f"{path}: {e}".replace(f"{path}: {path}: ", f"{path}: ")) from None


def encoder_kind(workdir: str) -> str:
  """config.json's encoder.kind, else eval.json's "encoder", else '-'."""
  path = os.path.join(workdir, CONFIG)
  if os.path.isfile(path):
    try:
      enc = read_json(path).get("encoder")
      if isinstance(enc, dict) and enc.get("kind"):
        return str(enc["kind"])
    except ValueError:
      pass
  try:
    ev = load_eval(workdir)
  except ValueError:
    ev = None
  if ev and ev.get("encoder"):
    return str(ev["encoder"])
  return "-"


def is_num(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- Formatting ----------------------------------------------------------------------------

def format_duration(seconds: Optional[float]) -> str:
  """95.0 -> '1m 35s'; 7384 -> '2h 03m'; 12.34 -> '12.3 s'; None -> '-'."""
  if not is_num(seconds):
    return "-"
  if seconds < 60:
    return f"{seconds:.1f} s"
  s = int(round(seconds))
  if s < 3600:
    return f"{s // 60}m {s % 60:02d}s"
  return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _mean_std(d: Optional[dict]) -> str:
  """'mean ± std (n=episodes)' of one split of an evaluation, as much of it as is there."""
  if not d or not is_num(d.get("mean_return")):
    return "-"
  std, n = d.get("std_return"), d.get("episodes")
  text = f"{d['mean_return']:.2f} ± {std:.2f}" if is_num(std) else f"{d['mean_return']:.2f}"
  return text + (f" (n={n})" if is_num(n) else "")


def md_cell(text: str) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


# --- Plots -----------------------------------------------------------------------------------

def alpha_panels(data: Mapping[str, np.ndarray]) -> List[Tuple[str, np.ndarray, List[str],
                                                              Tuple[int, int]]]:
  """Alphas history (as loaded from alphas.npz) -> [(title, weights [S, K], labels, (row, col))].

  Micro keys "<ct>/node<i>" [S, 1 + i, K] give one panel per edge (row = cell type x node,
  col = input); any other key [S, ..., K] gives one panel per row of its flattened middle axes.
  Weights are `mixing_weights(alpha, temperature)` over the last axis.
  """
  if "env_steps" not in data:
    raise ValueError("alphas history lacks 'env_steps'")
  steps = np.asarray(data["env_steps"])
  op_names = [str(o) for o in np.asarray(data["op_names"]).reshape(-1)] if "op_names" in data else []
  temperature = float(np.asarray(data["temperature"])) if "temperature" in data else 1.0
  keys = [k for k in data if k not in _ALPHA_META]
  if not keys:
    raise ValueError("alphas history has no alpha arrays")
  micro, other = [], []
  for key in keys:
    a = np.asarray(data[key])
    if a.ndim < 2 or a.shape[0] != steps.shape[0]:
      raise ValueError(f"alphas '{key}' has shape {a.shape}; expected [S={steps.shape[0]}, ..., K]")
    m = _MICRO_KEY.match(key)
    if m and a.ndim == 3 and a.shape[1] == int(m["i"]) + 1:
      micro.append((m["ct"], int(m["i"]), key))
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


def plot_alpha_evolution(alphas_npz_path: str, out_png: str) -> str:
  """alphas.npz -> out_png: one subplot per edge, one line per op (mixing weight vs env_steps).

  Input as in the module docstring; ValueError if the file is malformed. Returns out_png.
  """
  try:
    with np.load(alphas_npz_path, allow_pickle=False) as z:
      data = {k: z[k] for k in z.files}
  except (OSError, ValueError) as e:
    raise ValueError(f"{alphas_npz_path}: cannot read alphas history: {e}") from None
  try:
    panels = alpha_panels(data)
  except ValueError as e:
    raise ValueError(f"{alphas_npz_path}: {e}") from None
  steps = np.asarray(data["env_steps"])
  nrows = max(p[3][0] for p in panels) + 1
  ncols = max(p[3][1] for p in panels) + 1
  fig = Figure(figsize=(3.0 * ncols + 1.6, 1.9 * nrows + 0.8))
  gs = fig.add_gridspec(nrows, ncols, left=0.07, right=1 - 1.5 / (3.0 * ncols + 1.6),
                        top=1 - 0.6 / (1.9 * nrows + 0.8), bottom=0.55 / (1.9 * nrows + 0.8),
                        hspace=0.55, wspace=0.25)
  all_labels = list(dict.fromkeys(l for p in panels for l in p[2]))
  colors = diagram.op_colors(all_labels)
  handles = {}
  for title, w, labels, (r, c) in panels:
    ax = fig.add_subplot(gs[r, c])
    for k, label in enumerate(labels):
      (line,) = ax.plot(steps, w[:, k], color=colors[label], lw=1.4,
                        marker="o" if len(steps) == 1 else None, ms=3)
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
  temperature = float(np.asarray(data["temperature"])) if "temperature" in data else 1.0
  fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8,
             title=f"op (T={temperature:g})", title_fontsize=8, frameon=False)
  fig.suptitle("Mixing weights over search", fontsize=11)
  return diagram.save_figure(fig, out_png)


def final_evaluations(runs: Mapping[str, str]) -> Dict[str, Dict[str, Tuple[float, float, int]]]:
  """{label: {split: (mean return, standard error, episodes)}} from each run's evaluation with
  the most episodes (load_best_eval). Runs without one (or with a malformed one, logged) are
  left out; the standard error is nan when std or episodes are missing."""
  out = {}
  for label, wd in runs.items():
    try:
      ev, _ = load_best_eval(wd)
    except ValueError as e:
      logging.warning("%s", e)
      continue
    splits = {}
    for split in ("train_levels", "test_levels"):
      s = (ev or {}).get(split)
      if not s:
        continue
      std, n = s.get("std_return"), s.get("episodes", (ev or {}).get("episodes"))
      se = std / math.sqrt(n) if is_num(std) and is_num(n) and n > 0 else float("nan")
      splits[split] = (float(s["mean_return"]), float(se), int(n) if is_num(n) else 0)
    if splits:
      out[label] = splits
  return out


def plot_learning_curves(runs: Mapping[str, str], out_png: str, key: str = TRAIN_RETURN) -> str:
  """runs {label: workdir} -> out_png with up to three panels: `key` vs env_steps per run; the
  in-training evaluations (train levels solid, test levels dashed) when some run has two or
  more; and each run's final evaluation (final_evaluations: mean ± standard error, train
  levels filled, test levels open), one column per run. Returns out_png."""
  data = {label: load_metrics(wd) for label, wd in runs.items()}
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
          ax.plot(x, y, style, color=colors[label], lw=1.5, label=f"{label} ({name})",
                  marker="o" if x.size == 1 else None)
    ax.set_title("evaluation return during training", fontsize=10)
    _finish_axes(ax, True)
  if finals:
    ax = axes[-1]
    for i, (label, splits) in enumerate(finals.items()):
      for (split, name), dx, marker in ((("train_levels", "train levels"), -0.12, "o"),
                                        (("test_levels", "test levels"), 0.12, "s")):
        if split in splits:
          mean, se, _ = splits[split]
          ax.errorbar([i + dx], [mean], yerr=[0.0 if math.isnan(se) else se], fmt=marker,
                      color=colors[label], capsize=3,
                      mfc="white" if split == "test_levels" else colors[label],
                      label=name if i == 0 else None)
    ax.set_xticks(range(len(finals)))
    ax.set_xticklabels(list(finals), rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(finals) - 0.4)
    ax.set_ylabel("return", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("final evaluation (mean ± standard error)", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
  fig.tight_layout()
  return diagram.save_figure(fig, out_png)


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
  (mean of the last 3 logged 'train/return'), eval train/test levels mean ± std (n = episodes)
  of the evaluation with the most episodes (load_best_eval; else the last in-training
  evaluation, marked *), wall time."""
  header = ("| run | encoder | env steps | train return (last 3) | eval train levels "
            "| eval test levels | wall time |")
  lines = [header, "|" + "---|" * 7]
  footnote = any_eval = False
  for label, wd in runs.items():
    rows = load_metrics(wd)
    try:
      ev, _ = load_best_eval(wd)
    except ValueError as e:
      logging.warning("%s", e)
      ev = None
    any_eval |= ev is not None
    fr = final_return(rows)
    cells = []
    for (key, _), split in zip(EVAL_KEYS, ("train_levels", "test_levels")):
      if ev is not None:
        cells.append(_mean_std(ev.get(split)))
      else:
        _, y = series(rows, key)
        cells.append(f"{y[-1]:.2f}*" if y.size else "-")
        footnote |= bool(y.size)
    wall = series(rows, "wall_s")[1]
    lines.append("| " + " | ".join(md_cell(c) for c in (
        label, encoder_kind(wd), rows[-1]["env_steps"] if rows else "-",
        "-" if fr is None else f"{fr:.2f}", *cells,
        format_duration(wall[-1] if wall.size else None))) + " |")
  if any_eval:
    lines += ["", "± is the standard deviation over n episodes (standard error: std / √n); each "
              "run's evaluation with the most episodes (eval_<N>.json from launch/reevaluate.py "
              "when there is one, else eval.json)."]
  if footnote:
    lines += ["", "\\* last in-training evaluation (no eval.json)."]
  return "\n".join(lines)


def per_game_table(runs: Mapping[str, str]) -> Optional[str]:
  """Markdown table of final train return per game ('train/return/<game>' keys), or None."""
  finals, games = {}, []
  prefix = TRAIN_RETURN + "/"
  for label, wd in runs.items():
    rows = load_metrics(wd)
    keys = sorted({k for row in rows for k in row if k.startswith(prefix)})
    finals[label] = {k[len(prefix):]: final_return(rows, k) for k in keys}
    games += [g for g in finals[label] if g not in games]
  if not games:
    return None
  lines = ["| run | " + " | ".join(md_cell(g) for g in games) + " |", "|" + "---|" * (len(games) + 1)]
  for label, f in finals.items():
    vals = ["-" if f.get(g) is None else f"{f[g]:.2f}" for g in games]
    lines.append("| " + " | ".join([md_cell(label)] + vals) + " |")
  return "\n".join(lines)


# --- The report ------------------------------------------------------------------------------

def write_text(path: str, text: str):
  workdir_lib.atomic_write(path, text)


def file_label(label: str, taken: set) -> str:
  base = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._") or "run"
  name, n = base, 1
  while name in taken:
    n += 1
    name = f"{base}_{n}"
  taken.add(name)
  return name


def write_report(out_dir: str, runs: Mapping[str, str], search_dir: Optional[str] = None,
                 title: str = "darts-rl report") -> str:
  """Writes out_dir/{alphas.png, genotype_<label>.png, curves.png, report.md}; returns the path
  of report.md.

  runs: {label: workdir}, each with a metrics.jsonl (else ValueError); search_dir: an optional
  search workdir whose alphas.npz (and genotype.json) are drawn. Missing or unreadable optional
  inputs (alphas.npz, genotype.json, eval.json, config.json) are skipped with a note.
  """
  runs = dict(runs)
  for wd in runs.values():
    if not os.path.isfile(os.path.join(wd, METRICS)):
      raise ValueError(f"{wd}: no {METRICS} (is this a darts-rl workdir?)")
  if search_dir is not None and not os.path.isdir(search_dir):
    raise ValueError(f"{search_dir}: search_dir is not a directory")
  if not runs and search_dir is None:
    raise ValueError("nothing to report: give at least one run workdir or a search_dir")
  os.makedirs(out_dir, exist_ok=True)
  notes: List[str] = []
  md = [f"# {title}", ""]
  if runs:
    md += ["| run | workdir |", "|---|---|"]
    md += [f"| {md_cell(l)} | `{md_cell(os.path.abspath(wd))}` |" for l, wd in runs.items()]
    md += [""]
  if search_dir is not None:
    md += [f"Search workdir: `{os.path.abspath(search_dir)}`", ""]

  if runs:
    md += ["## Summary", "", summary_table(runs), ""]
    per_game = per_game_table(runs)
    if per_game:
      md += ["### Final train return per game", "", per_game, ""]
    plot_learning_curves(runs, os.path.join(out_dir, "curves.png"))
    md += ["## Learning curves", "", "![learning curves](curves.png)", ""]
    for label, wd in runs.items():
      if not series(load_metrics(wd), TRAIN_RETURN)[0].size:
        notes.append(f"run '{label}': no '{TRAIN_RETURN}' values in {METRICS}.")
      try:
        load_best_eval(wd)
      except ValueError as e:
        notes.append(f"run '{label}': evaluation skipped: {e}")

  if search_dir is not None:
    md += ["## Architecture weights", ""]
    path = os.path.join(search_dir, ALPHAS)
    if os.path.isfile(path):
      try:
        plot_alpha_evolution(path, os.path.join(out_dir, "alphas.png"))
        md += ["![mixing weights over search](alphas.png)", ""]
      except ValueError as e:
        notes.append(f"alphas.npz skipped: {e}")
        md += ["(alphas.npz could not be read; see Notes.)", ""]
    else:
      notes.append(f"{search_dir}: no {ALPHAS}; no alpha-evolution plot.")
      md += [f"(no {ALPHAS} in the search workdir)", ""]

  # Genotypes: every run dir, then the search dir unless it is one of the runs.
  sources = list(runs.items())
  if search_dir is not None and not any(
      os.path.realpath(wd) == os.path.realpath(search_dir) for wd in runs.values()):
    sources.append(("search", search_dir))
  taken: set = set()
  genotype_md = []
  for label, wd in sources:
    path = os.path.join(wd, GENOTYPE)
    if not os.path.isfile(path):
      continue
    try:
      g = load_genotype(path)
    except (ValueError, OSError) as e:
      notes.append(f"run '{label}': genotype.json skipped: {e}")
      continue
    png = f"genotype_{file_label(label, taken)}.png"
    diagram.draw_genotype(g, os.path.join(out_dir, png))
    genotype_md += [f"### {label}", "", f"![genotype of {label}]({png})", "", "```",
                    g.describe(), "```", ""]
  if genotype_md:
    md += ["## Genotypes", ""] + genotype_md
  else:
    notes.append("no genotype.json in any workdir; no genotype diagram.")

  if notes:
    md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
  report = os.path.join(out_dir, "report.md")
  write_text(report, "\n".join(md))
  return report
