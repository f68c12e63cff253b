"""How analysis output is written: markdown cells, file-safe labels, figures saved atomically."""

import io
import math
import os
import re
from typing import Iterable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

from darts_rl import artifacts
from darts_rl.formatting import format_tick

FIGURE_FORMATS = ("png", "svg")


def md_cell(text) -> str:
  """`text` made safe for one markdown table cell."""
  return str(text).replace("|", "\\|").replace("\n", " ")


def md_row(cells) -> str:
  """One markdown table row of `cells`, each made safe by md_cell."""
  return "| " + " | ".join(md_cell(c) for c in cells) + " |"


def decimals(values: Iterable[float], significant: int = 3) -> int:
  """Decimal places (1 to 6) that show the largest finite |value| with `significant` digits;
  3 when there is none. One table's numbers share them, so near-zero normalized scores
  (0.0021, 0.0047) do not all print as 0.002 or 0.000, nor returns of 264 as 264.356."""
  top = max((abs(v) for v in values if math.isfinite(v) and v != 0), default=0.0)
  if top == 0.0:
    return 3
  return min(6, max(1, significant - 1 - math.floor(math.log10(top))))


def file_label(label: str, taken: set) -> str:
  """`label` as a file-name part ([A-Za-z0-9_.-]), made unique among `taken` (updated)."""
  base = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._") or "run"
  name, n = base, 1
  while name in taken:
    n += 1
    name = f"{base}_{n}"
  taken.add(name)
  return name


def _shown_labels(axis):
  """The tick labels `axis` draws (ticks inside its view, with text), in axis order."""
  lo, hi = sorted(axis.get_view_interval())
  slack = 1e-9 * max(1.0, hi - lo)
  return [
    tick.label1
    for tick in axis.get_major_ticks()
    if lo - slack <= tick.get_loc() <= hi + slack
    and tick.label1.get_visible()
    and tick.label1.get_text()
  ]


def labels_overlap(axis, pad_px: float = 2.0) -> bool:
  """Whether two neighbouring tick labels of `axis` (drawn) come closer than `pad_px` pixels."""
  boxes = [label.get_window_extent() for label in _shown_labels(axis)]
  if axis.axis_name == "x":
    spans = sorted((b.x0, b.x1) for b in boxes)
  else:
    spans = sorted((b.y0, b.y1) for b in boxes)
  return any(a[1] + pad_px > b[0] for a, b in zip(spans, spans[1:]))


def readable_ticks(fig: Figure):
  """Every numeric axis of `fig` labelled by format_tick (12.5k, 2.5M), with fewer ticks where
  neighbouring labels would still touch: one rule for every plot (save_figure applies it).
  Axes with labels of their own (names, log scales) are left as they are."""
  numeric = [
    axis
    for ax in fig.axes
    for axis in (ax.xaxis, ax.yaxis)
    if type(axis.get_major_formatter()) is ScalarFormatter
  ]
  for axis in numeric:
    axis.set_major_formatter(FuncFormatter(lambda value, _: format_tick(value)))
  for _ in range(6):
    fig.draw_without_rendering()
    crowded = [axis for axis in numeric if labels_overlap(axis)]
    if not crowded:
      return
    for axis in crowded:
      axis.set_major_locator(MaxNLocator(nbins=max(1, len(_shown_labels(axis)) - 2)))


def save_figure(fig: Figure, path: str, dpi: int = 120) -> str:
  """Saves `fig` to `path` (.png or .svg) atomically: temp file in the same dir, then rename.
  Numeric tick labels are made short and apart first (readable_ticks)."""
  fmt = os.path.splitext(path)[1].lower().lstrip(".")
  if fmt not in FIGURE_FORMATS:
    raise ValueError(
      f"{path}: figure path must end with one of {', '.join('.' + f for f in FIGURE_FORMATS)}"
    )
  readable_ticks(fig)
  buf = io.BytesIO()
  # SVG keeps text as text (searchable, smaller) rather than glyph outlines.
  with matplotlib.rc_context({"svg.fonttype": "none"}):
    fig.savefig(buf, format=fmt, dpi=dpi)
  artifacts.atomic_write(path, buf.getvalue(), "wb")
  return path
