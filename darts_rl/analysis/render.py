"""How analysis output is written: markdown cells, file-safe labels, figures saved atomically."""

import io
import os
import re

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
