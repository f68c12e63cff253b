"""How analysis output is written: markdown cells, file-safe labels, figures saved atomically."""

import io
import math
import os
import re
from typing import Iterable

import matplotlib
from matplotlib.figure import Figure

from darts_rl import artifacts

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


def save_figure(fig: Figure, path: str, dpi: int = 120) -> str:
  """Saves `fig` to `path` (.png or .svg) atomically: temp file in the same dir, then rename."""
  fmt = os.path.splitext(path)[1].lower().lstrip(".")
  if fmt not in FIGURE_FORMATS:
    raise ValueError(
      f"{path}: figure path must end with one of {', '.join('.' + f for f in FIGURE_FORMATS)}"
    )
  buf = io.BytesIO()
  # SVG keeps text as text (searchable, smaller) rather than glyph outlines.
  with matplotlib.rc_context({"svg.fonttype": "none"}):
    fig.savefig(buf, format=fmt, dpi=dpi)
  artifacts.atomic_write(path, buf.getvalue(), "wb")
  return path
