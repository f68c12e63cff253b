"""How every workdir file is written and read: atomically, with one error type.

A file is written to a temp file in its own directory, then renamed into place, so a kill never
leaves a half-written artifact and a reader sees the old file or the new one, never a mix.
Also here: the files that are neither inputs nor results of a phase, worker logs
(WORKDIR/logs/*.log, appended across reruns) and a report's report.md.
"""

import json
import logging
import os
import tempfile
from typing import IO, Callable, List, Optional


class ArtifactError(ValueError):
  """A workdir file that is missing, malformed, or of another phase (one line, naming it)."""


def atomic_write(path: str, data, mode: str = "w"):
  """Writes `data` (str for mode 'w', bytes for 'wb') to `path` by temp file and rename."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, mode) as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; artifacts are meant to be shared
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def to_json(obj, **kwargs) -> str:
  """json.dumps that also takes numpy arrays / scalars and tuples (as lists)."""
  return json.dumps(obj, default=_json_default, **kwargs)


def _json_default(x):
  if hasattr(x, "tolist"):
    return x.tolist()
  if isinstance(x, tuple):
    return list(x)
  raise TypeError(f"not JSON serializable: {type(x)}")


def atomic_write_json(path: str, obj):
  atomic_write(path, to_json(obj, indent=1, sort_keys=True) + "\n")


def atomic_write_jsonl(path: str, rows, sort_keys: bool = False):
  """One JSON object per line (trials.jsonl, a metrics.jsonl cut back on resume)."""
  atomic_write(path, "".join(to_json(r, sort_keys=sort_keys) + "\n" for r in rows))


def read_json(path: str, kind: str = "") -> dict:
  """A JSON object from `path`; ArtifactError if it cannot be read or is not a JSON object.
  kind: what the file holds, for the error line ('genotype': "genotype file is not ...")."""
  label = f"{kind} file" if kind else "file"
  try:
    with open(path) as f:
      d = json.load(f)
  except OSError as e:
    raise ArtifactError(f"cannot read {label} {path}: {e.strerror}") from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ArtifactError(f"{path}: {label} is not valid JSON: {e}") from None
  if not isinstance(d, dict):
    raise ArtifactError(f"{path}: {label} is not a JSON object")
  return d


def read_jsonl(
  path: str, cut_last_ok: bool, check: Optional[Callable[[dict], Optional[str]]] = None
) -> List[dict]:
  """The JSON objects of a JSON-lines file, one per non-empty line.

  cut_last_ok: a last line that is not valid JSON is dropped with a warning (an append cut
  by a kill); any other bad line is an ArtifactError naming the file and line, as is a row
  for which `check` returns a problem (a string).
  """
  try:
    with open(path) as f:
      lines = f.read().split("\n")
  except OSError as e:
    raise ArtifactError(f"cannot read {path}: {e.strerror}") from None
  last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
  rows = []
  for n, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      if cut_last_ok and n == last:
        logging.warning("%s:%d: ignoring truncated last line", path, n + 1)
        continue
      raise ArtifactError(f"{path}:{n + 1}: not valid JSON: {e}") from None
    problem = "expected a JSON object" if not isinstance(row, dict) else check and check(row)
    if problem:
      raise ArtifactError(f"{path}:{n + 1}: {problem}")
    rows.append(row)
  return rows


def missing(workdir: str, name: str, hint: str) -> ArtifactError:
  """The error for a workdir that lacks `name`: '<workdir>: no <name> (<hint>)'."""
  return ArtifactError(f"{workdir}: no {name} ({hint})")


# --- Worker logs: a sweep's worker output, appended across reruns. ---


def open_log(path: str) -> IO:
  """`path` opened for appending (its folder made): a resumed job keeps its earlier output."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  return open(path, "a")


def last_line(path: str, limit: int = 300) -> str:
  """The last non-empty line of a log (at most `limit` characters), or 'no output'."""
  try:
    with open(path, errors="replace") as f:
      lines = [line.strip() for line in f.read().splitlines() if line.strip()]
  except OSError:
    return "no log"
  return lines[-1][:limit] if lines else "no output"


# --- report/: what launch/report.py and launch/compare.py write into --out. ---

REPORT_MD = "report.md"


def write_report_md(out_dir: str, text: str) -> str:
  """Writes OUT_DIR/report.md atomically; returns its path."""
  path = os.path.join(out_dir, REPORT_MD)
  atomic_write(path, text)
  return path
