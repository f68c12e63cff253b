"""report/: what launch/report.py and launch/compare.py write into their --out directory.

report.md and the figures it links (their names are the analysis code's own); figures are
written with files.atomic_write like everything else.
"""

import os

from darts_rl.artifacts.files import atomic_write

REPORT_MD = "report.md"


def write_report_md(out_dir: str, text: str) -> str:
  """Writes OUT_DIR/report.md atomically; returns its path."""
  path = os.path.join(out_dir, REPORT_MD)
  atomic_write(path, text)
  return path
