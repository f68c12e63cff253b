"""What a config field means: the comment where it is first set, its default, and the variants of
its experiment file that change it. `python launch/print_config.py --explain=KEY` prints one
field; scripts/gen_config_reference.py writes every field to docs/config_reference.md.

A field's meaning is the comment right above the statement that first sets it (in darts_rl/ or
the config's own directory), or else that statement's end-of-line comment. The statement is
found by recording every ConfigDict write while get_config runs, so a new field with a comment
appears by itself.
"""

import ast
import functools
import io
import itertools
import json
import os
import sys
import tokenize
from typing import Dict, List, Optional, Tuple

import ml_collections

from darts_rl import cli
from darts_rl import config as blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Variant tokens an experiment file accepts besides PHASE and SIZE (config.parse_variant's flags).
VARIANT_FLAGS = {
  "experiments/rainbow_procgen.py": ("multi",),
  "experiments/ppo_procgen.py": ("robust",),
  "experiments/sac_dmc.py": ("robust",),
}
PACKAGE_DIR = os.path.join(ROOT, "darts_rl")

Site = Tuple[str, int]  # (absolute path, line)


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

  def __init__(self, source_dirs):
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
    # Every simple statement (no body of its own): the unit a comment is read for.
    self.statements = [
      s for s in ast.walk(ast.parse(text)) if isinstance(s, ast.stmt) and not hasattr(s, "body")
    ]

  def meaning(self, line: int) -> str:
    """The comment of the statement running at `line`: the comment lines right above it, or
    else its end-of-line comment (one comment per field: a comment above `a = 1` says nothing
    of a `b = 2` below it)."""
    found = [s for s in self.statements if s.lineno <= line <= s.end_lineno]
    if not found:
      return ""
    stmt = max(found, key=lambda s: s.lineno)
    lines, above = [], stmt.lineno - 1
    while above in self.own_line:
      lines.insert(0, self.own_line[above])
      above -= 1
    if lines:
      return " ".join(lines)
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
  path = _name(path)
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


def _name(path: str) -> str:
  """A config file as VARIANT_FLAGS names it: relative to the repository when inside it."""
  rel = os.path.relpath(os.path.abspath(path), ROOT)
  return os.path.abspath(path) if rel.startswith("..") else rel


@functools.lru_cache(maxsize=None)
def experiment_fields(path: str) -> List[Field]:
  """The fields of config file `path` (relative to the repository, or absolute) over all its
  variants, in key order."""
  path = _name(path)
  source_dirs = (PACKAGE_DIR, os.path.dirname(os.path.join(ROOT, path)))
  fields: Dict[str, Field] = {}
  for variant in variants(path):
    with FieldSites(source_dirs) as sites:
      config = cli.load(f"{os.path.join(ROOT, path)}:{','.join(t for t in variant if t)}")
    for key, parent, name in cli.leaves(config):
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
  flag_names = VARIANT_FLAGS.get(_name(path), ())
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


def explain(config, spec: str, key: str) -> str:
  """What field `key` of the config `spec` ('FILE[:VARIANT]', loaded as `config`) means: its
  type, meaning, default (get_config()'s value), the variants that change it and its value here.

  Raises cli.ConfigArgError for a key the config lacks or a group of fields."""
  cli.check_override(config, key)
  path, _, variant = spec.partition(":")
  field = {f.key: f for f in experiment_fields(path)}.get(key)
  if field is None:
    raise cli.ConfigArgError(f"'{key}' is a group of fields, not a field; print_config lists them")
  *groups, name = key.split(".")
  node = config
  for group in groups:
    node = node[group]
  default = variants(path)[0]
  lines = [
    f"{key} ({field.type})",
    f"  meaning:    {field.meaning or '(no comment where it is set)'}",
    f"  default:    {json.dumps(field.values[default]) if default in field.values else '(none)'}"
    f"  ({_name(path)}, variant {','.join(t for t in default if t)})",
    f"  changed by: {changed_by(field, path) or 'no variant'}",
    f"  here:       {json.dumps(node[name])}  ({spec}, overrides applied)",
  ]
  if field.site:
    lines.append(f"  set at:     {os.path.relpath(field.site[0], ROOT)}:{field.site[1]}")
  return "\n".join(lines)
