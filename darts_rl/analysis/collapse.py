"""The collapse monitor in reports: the dominant Hessian eigenvalue w.r.t. the alphas and the
share of mixing weight on parameter-free ops over a search, for one or many searches.

Reads metrics.jsonl rows (`arch/eigenvalue`, logged with arch.eigen_every_updates;
`alpha/<cell>/param_free`, logged by every micro-space search; `arch/stopped_at_update`, with
early stopping; `arch/ada_restarts`, `arch/l2` and `arch/rolled_back_to_update`, with
DARTS-ADA) and each search's genotype.json when it has one (the discretized cell's
parameter-free edges). See docs/robust_search.md.
"""

import os
from typing import List, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from darts_rl import artifacts
from darts_rl.analysis.render import md_cell, save_figure
from darts_rl.analysis.similarity import SearchOutcome
from darts_rl.formatting import is_num
from darts_rl.search.genotype import Genotype
from darts_rl.search.ops import PARAMETER_FREE

EIGENVALUE = "arch/eigenvalue"
PARAM_FREE = "/param_free"  # alpha/<cell>/param_free
STOPPED_AT = "arch/stopped_at_update"
RESTARTS, L2, ROLLED_BACK = "arch/ada_restarts", "arch/l2", "arch/rolled_back_to_update"


def _series(rows: Sequence[dict], key: str):
  pts = [(int(r["env_steps"]), float(r[key])) for r in rows if is_num(r.get(key))]
  return (np.asarray([p[0] for p in pts]), np.asarray([p[1] for p in pts]))


def _cells(rows: Sequence[dict]) -> List[str]:
  keys = dict.fromkeys(
    k for r in rows for k in r if k.startswith("alpha/") and k.endswith(PARAM_FREE)
  )
  return [k[len("alpha/") : -len(PARAM_FREE)] for k in keys]


def _method(label: str) -> str:
  """A seed's label 'method/seed_S' -> 'method' (one color per method)."""
  return label.split("/seed_")[0]


def plot_collapse_monitor(searches: Mapping[str, Sequence[dict]], out_png: str) -> Optional[str]:
  """{label: metrics rows} of search runs -> out_png with the eigenvalue and the
  parameter-free share against env steps (one color per method, one line per seed); None when
  no run logged either."""
  has_eig = any(_series(rows, EIGENVALUE)[0].size for rows in searches.values())
  has_free = any(_cells(rows) for rows in searches.values())
  if not (has_eig or has_free):
    return None
  fig = Figure(figsize=(1.0 + 5.0 * (has_eig + has_free), 4.2))
  axes = list(fig.subplots(1, has_eig + has_free, squeeze=False)[0])
  methods = list(dict.fromkeys(_method(label) for label in searches))
  color = {m: f"C{i % 10}" for i, m in enumerate(methods)}
  seen = set()
  if has_eig:
    ax = axes.pop(0)
    for label, rows in searches.items():
      x, y = _series(rows, EIGENVALUE)
      if x.size:
        m = _method(label)
        ax.plot(x, y, marker=".", color=color[m], lw=1.2, label=None if m in seen else m)
        seen.add(m)
    ax.set_title("dominant Hessian eigenvalue w.r.t. the alphas", fontsize=10)
    ax.set_ylabel("eigenvalue", fontsize=9)
  if has_free:
    ax = axes.pop(0)
    seen = set()
    styles = ("-", "--", ":", "-.")
    for label, rows in searches.items():
      m = _method(label)
      for c, cell in enumerate(_cells(rows)):
        x, y = _series(rows, f"alpha/{cell}{PARAM_FREE}")
        name = f"{m} ({cell})"
        ax.plot(
          x,
          y,
          styles[c % len(styles)],
          color=color[m],
          lw=1.2,
          label=None if name in seen else name,
        )
        seen.add(name)
    ax.axhline(0.75, color="gray", lw=0.8, ls=":")  # uniform over the base op set
    ax.set_title("mixing weight on parameter-free ops", fontsize=10)
    ax.set_ylabel("share (uniform base set: 0.75)", fontsize=9)
  for ax in fig.axes:
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("env steps", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
  fig.tight_layout()
  return save_figure(fig, out_png)


def param_free_edges(genotype) -> Optional[str]:
  """'k of n' kept edges of a micro genotype whose op is parameter-free, or None."""
  if not isinstance(genotype, Genotype):
    return None
  ops = [op for _, cell in genotype.cells for node in cell for op, _ in node]
  return f"{sum(op in PARAMETER_FREE for op in ops)} of {len(ops)}"


def _outcome(workdir: str) -> Optional[SearchOutcome]:
  """A micro search's final mixing weights and history (one read of alphas.npz), or None."""
  if not os.path.isfile(os.path.join(workdir, artifacts.ALPHAS)):
    return None
  try:
    return SearchOutcome.load(workdir)
  except artifacts.ArtifactError:  # a macro search: no op set to rank
    return None


def _early_stop_cell(rows: Sequence[dict]) -> str:
  """What early stopping did: RobustDARTS froze the alphas at an arch update, or DARTS-ADA
  raised the L2 k times (its final value) and rolled the alphas back; '-' when neither ran."""
  stops = [r[STOPPED_AT] for r in rows if is_num(r.get(STOPPED_AT))]
  if stops:
    return f"frozen at arch update {int(stops[-1])}"
  last = next((r for r in reversed(rows) if is_num(r.get(RESTARTS))), None)
  if last is None or not last[RESTARTS]:
    return "-" if last is None else "L2 never raised"
  back = f", back to arch update {int(last[ROLLED_BACK])}" if is_num(last.get(ROLLED_BACK)) else ""
  return f"L2 raised {int(last[RESTARTS])}x to {last[L2]:.2g}{back}"


def _alphas_cells(workdir: str) -> str:
  """The table's 'moved / margin' and 'best ops settled at' cells."""
  o = _outcome(workdir)
  if o is None:
    return "- | -"
  return f"{o.moved():.3f} / {o.margin():.3f} | {o.settled:,} env steps"


def collapse_table(
  searches: Mapping[str, Sequence[dict]],
  workdirs: Mapping[str, str],
  genotypes: Optional[Mapping[str, str]] = None,
) -> Optional[str]:
  """A markdown table per search: final parameter-free share per cell type, first / last / max
  eigenvalue, what early stopping did, the discretized cell's parameter-free edges (its
  genotype file: `genotypes[label]`, else the workdir's genotype.json), and how far the final
  mixing weights moved from uniform and how decided their best ops are; None when no run
  logged the monitor."""
  lines = []
  for label, rows in searches.items():
    cells = _cells(rows)
    _, eig = _series(rows, EIGENVALUE)
    if not cells and not eig.size:
      continue
    free = ", ".join(f"{c} {_series(rows, f'alpha/{c}{PARAM_FREE}')[1][-1]:.3f}" for c in cells)
    eigs = f"{eig[0]:.3g} / {eig[-1]:.3g} / {eig.max():.3g}" if eig.size else "-"
    path = (genotypes or {}).get(label) or artifacts.genotype_path(workdirs[label])
    cell = param_free_edges(artifacts.load_genotype(path)) if os.path.isfile(path) else None
    lines.append(
      f"| {md_cell(label)} | {free or '-'} | {eigs} | {_early_stop_cell(rows)} | {cell or '-'} | "
      f"{_alphas_cells(workdirs[label])} |"
    )
  if not lines:
    return None
  head = [
    "| search | parameter-free share (end) | eigenvalue first / last / max | "
    "early stopping | parameter-free kept edges | moved / margin | best ops settled at |",
    "|---|---|---|---|---|---|---|",
  ]
  note = (
    "early stopping: 'frozen at', the arch update from which RobustDARTS's rule held the "
    "alphas; 'L2 raised k x', how often DARTS-ADA raised the weights' L2 (to the value shown), "
    "and the arch update it last rolled the alphas back to. "
    "moved: the largest |w - 1/K| over edges and ops of the final mixing weights (0: still "
    "uniform); margin: the median over edges of the best op's weight minus the runner-up's, "
    "Zero excluded (near 0: the discretized cell is decided by noise); best ops settled at: "
    "the env steps from which every edge's best op stayed the final one."
  )
  return "\n".join(head + lines + ["", note])
