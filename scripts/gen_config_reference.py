"""Writes docs/config_reference.md from the configs themselves: every field of every experiment
file, with its default, type, meaning and the variants that change it.

  python scripts/gen_config_reference.py           # (re)writes docs/config_reference.md
  python scripts/gen_config_reference.py --check   # exit 1 if the committed file is stale

A field's meaning is the comment above the statement that first sets it (in darts_rl/ or
experiments/): the comment lines right above it, or above the run of assignments it ends (no
blank line between), or else its end-of-line comment. The statement is found by recording every
ConfigDict write while get_config runs, so a new field with a comment appears by itself.
"""

import ast
import functools
import glob
import io
import itertools
import json
import os
import sys
import tokenize
from typing import Dict, List, Optional, Tuple

import ml_collections

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from darts_rl import config as blocks  # noqa: E402
from darts_rl import config_args  # noqa: E402

OUT = "docs/config_reference.md"
# Variant tokens an experiment file accepts besides PHASE and SIZE (config.parse_variant's flags).
VARIANT_FLAGS = {
  "experiments/rainbow_procgen.py": ("multi",),
  "experiments/ppo_procgen.py": ("robust",),
  "experiments/sac_dmc.py": ("robust",),
}
SOURCE_DIRS = (os.path.join(ROOT, "darts_rl"), os.path.join(ROOT, "experiments"))

Site = Tuple[str, int]  # (absolute path, line)


def experiment_files() -> List[str]:
  return sorted(
    p for p in glob.glob("experiments/*.py", root_dir=ROOT) if not p.endswith("__init__.py")
  )


# --- Where each field is set: ConfigDict writes recorded while get_config runs. ---


def _source_site(frame, source_dirs) -> Optional[Site]:
  """The innermost caller line in a file under `source_dirs` (past ml_collections' own)."""
  while frame is not None:
    path = os.path.realpath(frame.f_code.co_filename)
    if any(path.startswith(os.path.realpath(d) + os.sep) for d in source_dirs):
      return path, frame.f_lineno
    frame = frame.f_back
  return None


class FieldSites:
  """Context manager: while active, records where each ConfigDict field is first written.

  `first(config_dict, key)` is then the (file, line) that created the field."""

  def __init__(self, source_dirs=SOURCE_DIRS):
    self._source_dirs = source_dirs
    self._sites: Dict[Tuple[int, str], Site] = {}
    self._alive = []  # recorded ConfigDicts stay alive, so their ids stay unique

  def __enter__(self):
    self._setitem = setitem = ml_collections.ConfigDict.__setitem__
    sites, alive, source_dirs = self._sites, self._alive, self._source_dirs

    def recorded_setitem(cd, key, value):
      if (id(cd), key) not in sites:
        site = _source_site(sys._getframe(1), source_dirs)
        if site:
          sites[(id(cd), key)] = site
          alive.append(cd)
      setitem(cd, key, value)

    ml_collections.ConfigDict.__setitem__ = recorded_setitem
    return self

  def __exit__(self, *exc):
    ml_collections.ConfigDict.__setitem__ = self._setitem

  def first(self, config_dict, key) -> Optional[Site]:
    return self._sites.get((id(config_dict), key))


# --- The comment that says what a statement sets. ---


class SourceComments:
  """Comments of one Python file, looked up by the line of a statement."""

  def __init__(self, path: str):
    text = open(path).read()
    self.own_line: Dict[int, str] = {}  # line -> text of a comment alone on its line
    self.end_of_line: Dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
      if tok.type == tokenize.COMMENT:
        line, col = tok.start
        target = self.own_line if not tok.line[:col].strip() else self.end_of_line
        target[line] = tok.string.lstrip("#").strip()
    # (statement, the statement list holding it, its index there) of every simple statement.
    self.statements = []
    for node in ast.walk(ast.parse(text)):
      for field in ("body", "orelse", "finalbody"):
        body = getattr(node, field, None)
        if isinstance(body, list):
          self.statements += [
            (s, body, i)
            for i, s in enumerate(body)
            if isinstance(s, ast.stmt) and not hasattr(s, "body")
          ]

  def _above(self, line: int) -> str:
    lines = []
    while line - 1 in self.own_line:
      line -= 1
      lines.insert(0, self.own_line[line])
    return " ".join(lines)

  def meaning(self, line: int) -> str:
    """The comment of the statement running at `line`: above it, above the run of adjacent
    assignments it ends, or at its end."""
    found = [x for x in self.statements if x[0].lineno <= line <= x[0].end_lineno]
    if not found:
      return ""
    stmt, body, i = max(found, key=lambda x: x[0].lineno)
    cur = stmt
    while True:
      text = self._above(cur.lineno)
      if text:
        return text
      prev = body[i - 1] if i > 0 else None
      if not (
        isinstance(cur, ast.Assign)
        and isinstance(prev, ast.Assign)
        and prev.end_lineno == cur.lineno - 1
      ):
        break
      cur, i = prev, i - 1
    return " ".join(
      self.end_of_line[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in self.end_of_line
    )


@functools.lru_cache(maxsize=None)
def comments(path: str) -> SourceComments:
  return SourceComments(path)


# --- One experiment file: its fields over all variants. ---


class Field:
  """One dotted key of one experiment file: default, type, meaning, value per variant."""

  def __init__(self, key: str):
    self.key = key
    self.values: Dict[Tuple[str, ...], object] = {}
    self.type = ""
    self.meaning = ""
    self.site: Optional[Site] = None


def _dims(path: str) -> List[Tuple[str, ...]]:
  """The values of each variant token: phase, size, then each flag ('' = off)."""
  return [blocks.PHASES, blocks.SIZES] + [(f, "") for f in VARIANT_FLAGS.get(path, ())]


def variants(path: str) -> List[Tuple[str, ...]]:
  """Every (phase, size, flag or '' ...) the file accepts; the first is get_config()'s."""
  dims = _dims(path)
  out = list(itertools.product(*dims))
  default = ("search", "full") + ("",) * (len(dims) - 2)
  out.remove(default)
  return [default] + out


def _type_name(parent, name) -> str:
  value = parent[name]
  if isinstance(value, (tuple, list)):
    kinds = sorted({type(v).__name__ for v in value})
    return f"{type(value).__name__} of {' or '.join(kinds)}" if kinds else type(value).__name__
  type_name = parent.get_type(name).__name__
  return f"{type_name} or None" if value is None else type_name


@functools.lru_cache(maxsize=None)
def experiment_fields(path: str) -> List[Field]:
  """The fields of `path` (relative to the repository) over all its variants, in key order."""
  fields: Dict[str, Field] = {}
  for variant in variants(path):
    with FieldSites() as sites:
      config = config_args.load(f"{os.path.join(ROOT, path)}:{','.join(t for t in variant if t)}")
    for key, parent, name in config_args.leaves(config):
      field = fields.setdefault(key, Field(key))
      field.values[variant] = parent[name]
      if field.site is None:
        field.type = _type_name(parent, name)
        field.site = sites.first(parent, name)
        field.meaning = comments(field.site[0]).meaning(field.site[1]) if field.site else ""
  return [fields[k] for k in sorted(fields)]


def _matches(pattern, variant) -> bool:
  return all(p == "*" or p == v for p, v in zip(pattern, variant))


def _describe(pattern, flag_names) -> str:
  text = ",".join(p for p in pattern if p not in ("*", ""))
  off = [f for f, p in zip(flag_names, pattern[2:]) if p == ""]
  return (text or "all") + (f" without {','.join(off)}" if off else "")


def changed_by(field: Field, path: str) -> str:
  """'smoke: `4`; demo: `32`': the variants whose value differs from the default, grouped by
  value, each group as the fewest token patterns (`smoke` = every variant with size smoke)."""
  all_variants = variants(path)
  flag_names = VARIANT_FLAGS.get(path, ())
  default = field.values.get(all_variants[0])
  groups: Dict[str, List[Tuple[str, ...]]] = {}
  for v in all_variants:
    if v in field.values and field.values[v] != default:
      groups.setdefault(json.dumps(field.values[v]), []).append(v)
  patterns = list(itertools.product(*[("*",) + tuple(d) for d in _dims(path)]))
  parts = []
  for value, members in groups.items():
    fits = [p for p in patterns if all(v in members for v in all_variants if _matches(p, v))]
    fits.sort(key=lambda p: -sum(_matches(p, v) for v in all_variants))
    chosen, covered = [], set()
    for p in fits:
      new = {v for v in members if _matches(p, v)} - covered
      if new:
        chosen.append(p)
        covered |= new
    parts.append(" / ".join(_describe(p, flag_names) for p in chosen) + f": `{value}`")
  return "; ".join(parts)


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
- **meaning**: the comment above the line that first sets the field (a comment covers the run
  of assignments right below it).
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
