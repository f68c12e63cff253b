"""Writes docs/config_reference.md from the configs themselves: every field of every experiment
file, with its default, type, meaning and the variants that change it (darts_rl.config_reference
reads them; `launch/print_config.py --explain=KEY` prints one field the same way).

  python scripts/gen_config_reference.py           # (re)writes docs/config_reference.md
  python scripts/gen_config_reference.py --check   # exit 1 if the committed file is stale
"""

import ast
import glob
import json
import os
import sys
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from darts_rl import config as blocks  # noqa: E402
from darts_rl.config_reference import (  # noqa: E402
  VARIANT_FLAGS,
  changed_by,
  experiment_fields,
  variants,
)

OUT = "docs/config_reference.md"


def experiment_files() -> List[str]:
  return sorted(
    p for p in glob.glob("experiments/*.py", root_dir=ROOT) if not p.endswith("__init__.py")
  )


# --- The document. ---

HEADER = """# Config reference

Generated from the configs by `python scripts/gen_config_reference.py`; do not edit by hand
(a test fails when this file is stale). Each experiment file's `get_config(VARIANT)` builds its
config from the blocks in `darts_rl/config.py`.

- **key**: override it with `--config.KEY=VALUE` on any launcher that takes `--config`;
  `python launch/print_config.py --config=FILE:VARIANT [--config.KEY=VALUE ...]` prints the
  resolved config without running anything.
- **default**: the value of the default variant, `search,full` (the paper's settings).
- **changed by**: the variants whose value differs, with that value. A variant is
  `PHASE[,SIZE]` (PHASE `{phases}`, SIZE `{sizes}`{flags});
  `smoke` stands for every variant with size smoke, `baseline,smoke` for that one variant.
- **meaning**: the comment right above the line that first sets the field (or at its end);
  `python launch/print_config.py --config=FILE --explain=KEY` prints one field's entry.
"""


def _cell(text: str) -> str:
  return text.replace("|", "\\|")


def render() -> str:
  flags = "".join(f", plus `{f}` in {p}" for p, fs in VARIANT_FLAGS.items() for f in fs)
  out = [
    HEADER.format(phases=" | ".join(blocks.PHASES), sizes=" | ".join(blocks.SIZES), flags=flags)
  ]
  for path in experiment_files():
    doc = ast.get_docstring(ast.parse(open(os.path.join(ROOT, path)).read())) or ""
    out += [
      f"\n## {path}\n",
      doc.splitlines()[0] if doc else "",
      "",
      "| key | default | type | meaning | changed by |",
      "|---|---|---|---|---|",
    ]
    for field in experiment_fields(path):
      default = variants(path)[0]
      default = f"`{json.dumps(field.values[default])}`" if default in field.values else "(none)"
      out.append(
        f"| `{field.key}` | {_cell(default)} | {field.type} | "
        f"{_cell(field.meaning)} | {_cell(changed_by(field, path))} |"
      )
  return "\n".join(out) + "\n"


def fields_without_meaning() -> List[str]:
  """'FILE: KEY (set at SOURCE:LINE)' for every field whose setting line has no comment."""
  out = []
  for path in experiment_files():
    for field in experiment_fields(path):
      if not field.meaning:
        where = (
          f"{os.path.relpath(field.site[0], ROOT)}:{field.site[1]}"
          if field.site
          else "not set in darts_rl/ or experiments/"
        )
        out.append(f"{path}: {field.key} (set at {where})")
  return out


def main(argv):
  if argv not in ([], ["--check"]):
    print(
      f"error: unexpected arguments {' '.join(argv)} (usage: python "
      "scripts/gen_config_reference.py [--check])",
      file=sys.stderr,
    )
    return 1
  os.chdir(ROOT)
  text = render()
  if argv == ["--check"]:
    current = open(OUT).read() if os.path.exists(OUT) else ""
    if current != text:
      print(f"error: {OUT} is stale: run python scripts/gen_config_reference.py", file=sys.stderr)
      return 1
    print(f"{OUT} is current")
    return 0
  os.makedirs(os.path.dirname(OUT), exist_ok=True)
  with open(OUT, "w") as f:
    f.write(text)
  print(f"wrote {OUT}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
