"""Genotype diagrams with matplotlib only (no graphviz).

`draw_genotype(genotype, path)` draws each cell of a micro genotype as a DAG, left to right:

    in -> node0 -> node1 -> ... -> node{n-1} -> out

Each kept edge is an arrow labelled with its op (one colour per op); edges that skip nodes arc
above the row. Every intermediate node feeds `out` (concat, then 1x1 conv) with a thin grey arrow
below the row. Objects that are not micro genotypes (e.g. a macro genotype) but have
`.describe()` get that text rendered into the figure instead.

Figures are built with `matplotlib.figure.Figure` (no pyplot, no global backend state) and saved
atomically (render.save_figure).
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch
from matplotlib.path import Path

from darts_rl.analysis.render import save_figure

# Layout in data units (axes have equal aspect, so circles stay round).
_DX = 3.0  # distance between consecutive nodes
_R = 0.46  # node radius
_INCH_PER_UNIT = 0.45


def _up(span):
  """Apex height of an op edge spanning `span` node gaps (above the row; 0 = straight)."""
  return 0.0 if span <= 1 else 1.15 + 0.6 * (span - 2)


def _down(span):
  """Apex depth of a concat edge to 'out' (below the row); clears the nodes it passes under."""
  return 0.0 if span <= 1 else 0.75 + 0.3 * (span - 2)


def op_colors(op_names: Sequence[str]) -> dict:
  """op name -> colour, stable for a given op order (shared with the alpha plots)."""
  cmap = colormaps["tab10"]
  return {op: cmap(i % 10) for i, op in enumerate(op_names)}


def micro_cells(genotype) -> Optional[List[Tuple[str, tuple]]]:
  """[(cell type, nodes)] if `genotype` looks like a micro Genotype, else None.

  Duck-typed: `.cells` is a sequence of (cell type, nodes); node i is a sequence of
  (op name, input index) edges with 0 <= input index <= i.
  """
  cells = getattr(genotype, "cells", None)
  if not isinstance(cells, (list, tuple)) or not cells:
    return None
  out = []
  for entry in cells:
    if not (
      isinstance(entry, (list, tuple))
      and len(entry) == 2
      and isinstance(entry[0], str)
      and isinstance(entry[1], (list, tuple))
      and entry[1]
    ):
      return None
    ct, nodes = entry
    for i, node in enumerate(nodes):
      if not isinstance(node, (list, tuple)):
        return None
      for e in node:
        if not (
          isinstance(e, (list, tuple))
          and len(e) == 2
          and isinstance(e[0], str)
          and isinstance(e[1], (int, np.integer))
          and 0 <= e[1] <= i
        ):
          return None
    out.append((ct, tuple(nodes)))
  return out


def draw_genotype(genotype, path: str) -> str:
  """Draws `genotype` to `path` (.png or .svg); returns `path`.

  genotype: a micro `Genotype` (one subplot per cell type), or any object with `.describe()`
  (its text is rendered instead). TypeError for anything else.
  """
  cells = micro_cells(genotype)
  if cells is not None:
    ops_used = [op for _, nodes in cells for node in nodes for op, _ in node]
    op_order = list(getattr(genotype, "op_set", ())) or []
    op_order += [op for op in dict.fromkeys(ops_used) if op not in op_order]
    fig = _cells_figure(cells, op_colors(op_order))
  elif callable(getattr(genotype, "describe", None)):
    fig = text_figure(str(genotype.describe()), title=type(genotype).__name__)
  else:
    raise TypeError(
      f"cannot draw {type(genotype).__name__}: not a micro genotype and no .describe()"
    )
  return save_figure(fig, path)


def text_figure(text: str, title: str = "") -> Figure:
  """A figure showing `text` in a monospace font (fallback for non-micro genotypes)."""
  lines = text.splitlines() or [""]
  width = max(4.0, 0.085 * max(len(line) for line in lines) + 0.6)
  height = 0.22 * len(lines) + (0.7 if title else 0.3)
  fig = Figure(figsize=(width, height))
  ax = fig.add_axes((0, 0, 1, 1))
  ax.axis("off")
  top = 1 - (0.45 if title else 0.15) / height
  if title:
    ax.text(0.5, 1 - 0.2 / height, title, ha="center", va="top", fontsize=11, weight="bold")
  ax.text(0.3 / width, top, text, ha="left", va="top", family="monospace", fontsize=9)
  return fig


def _cells_figure(cells, colors) -> Figure:
  n = max(len(nodes) for _, nodes in cells)
  up = max(_up(n) + 0.35, _R + 0.5)  # room above the row: highest arc + its label
  down = max(_down(n), _R + 0.6) + 0.15  # room below: concat arcs, the 'out' caption
  width_u = (n + 1) * _DX + 2 * _R + 0.6
  height_u = up + down
  title_in = 0.35
  cell_h = height_u * _INCH_PER_UNIT + title_in
  fig = Figure(figsize=(width_u * _INCH_PER_UNIT, cell_h * len(cells)))
  for c, (ct, nodes) in enumerate(cells):
    # One axes per cell, stacked top to bottom, sized so one data unit is the same in x and y.
    bottom = 1 - (c + 1) * cell_h / (cell_h * len(cells))
    ax = fig.add_axes((0, bottom, 1, (cell_h - title_in) / (cell_h * len(cells))))
    ax.set_xlim(-_R - 0.3, (n + 1) * _DX + _R + 0.3)
    ax.set_ylim(-down, up)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{ct} cell", fontsize=11, weight="bold", pad=2)
    _draw_cell(ax, nodes, colors)
  return fig


def _draw_cell(ax, nodes, colors):
  n = len(nodes)
  xs = {"in": 0.0, "out": (n + 1) * _DX}
  xs.update({f"node{i}": (i + 1) * _DX for i in range(n)})
  for name, x in xs.items():
    io = name in ("in", "out")
    ax.add_patch(
      Circle((x, 0), _R, fc="#dde6f5" if io else "#f4f4f4", ec="#333333", lw=1.2, zorder=3)
    )
    ax.text(
      x, 0, name, ha="center", va="center", fontsize=8, zorder=4, weight="bold" if io else "normal"
    )
  # Concat edges first (drawn under the op edges): every node feeds 'out'.
  for i in range(n):
    _arrow(ax, xs[f"node{i}"], xs["out"], -_down(n - i), "#9a9a9a", 0.8, 8)
  ax.text(
    xs["out"], -_R - 0.12, "concat +\nconv1x1", ha="center", va="top", fontsize=7, color="#555555"
  )
  for i, node in enumerate(nodes):
    for op, j in node:
      x0 = xs["in"] if j == 0 else xs[f"node{j - 1}"]
      span = i + 1 - j
      h = _up(span)
      color = colors.get(op, "#333333")
      _arrow(ax, x0, xs[f"node{i}"], h, color, 1.6, 13)
      mid = (x0 + xs[f"node{i}"]) / 2
      # Straight edges carry their label just above the line so the arrow stays visible;
      # arcs carry it on their apex.
      y, va = (0.1, "bottom") if span == 1 else (h, "center")
      ax.text(
        mid,
        y,
        op,
        ha="center",
        va=va,
        fontsize=7.5,
        color="black",
        zorder=5,
        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=1.0),
      )


def _arrow(ax, x0, x1, h, color, lw, head):
  """An arrow from the node at (x0, 0) to the node at (x1, 0) along an arc of apex height h.

  A cubic Bezier whose control points sit just inside the endpoints, so arcs leave and enter
  nodes steeply (clear of the labels of straight edges) and pass high over skipped nodes.
  """
  t = np.linspace(0.0, 1.0, 120)[:, None]
  c = 4.0 * h / 3.0  # a cubic with both inner controls at height c peaks at 0.75 c
  lean = 0.5 * np.sign(x1 - x0)
  p0, p1, p2, p3 = (np.array(p, float) for p in ((x0, 0), (x0 + lean, c), (x1 - lean, c), (x1, 0)))
  pts = (1 - t) ** 3 * p0 + 3 * t * (1 - t) ** 2 * p1 + 3 * t**2 * (1 - t) * p2 + t**3 * p3
  outside = (np.hypot(pts[:, 0] - x0, pts[:, 1]) > _R * 1.04) & (
    np.hypot(pts[:, 0] - x1, pts[:, 1]) > _R * 1.04
  )
  pts = pts[outside]
  if len(pts) < 2:
    return
  ax.add_patch(
    FancyArrowPatch(
      path=Path(pts), arrowstyle="-|>", mutation_scale=head, lw=lw, color=color, zorder=2
    )
  )
