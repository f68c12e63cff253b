"""docs/: the commands shown parse, the config keys named exist, the code cites only what a user
has (docs/, WORKSPACE.md, benchmarks/RESULTS.md and ARCHIVE.md), not guides or trackers outside
the repo, and no tracked file holds a path of one machine.
"""

import glob
import os
import re
import shlex
import subprocess

import pytest

from darts_rl import cli
from tests.test_cli import EXPERIMENTS, LAUNCHERS, launcher_flags, parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# config_reference.md is generated and checked by tests/test_config_reference.py; its usage
# line has placeholders (FILE:VARIANT).
DOCS = sorted(p for p in glob.glob("docs/*.md", root_dir=ROOT) if p != "docs/config_reference.md")
# Guides that are not part of the repository, and issue numbers of a tracker a user lacks.
OUTSIDE = re.compile(r"\b(REFERENCE|DESIGN|STYLE)\.md\b|\bissues? #?\d+|(?<![\w&])#\d{1,3}\b")
CITING = ("darts_rl", "experiments", "launch", "benchmarks", "scripts", "tests", "docs")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
  monkeypatch.chdir(ROOT)


def doc_commands():
  """(where, launcher, argv) of every `python launch/X.py ...` line in docs/*.md."""
  out = []
  for path in DOCS:
    text = open(os.path.join(ROOT, path)).read().replace("\\\n", " ")
    for line in text.splitlines():
      m = re.search(r"python (launch/\w+\.py)([^`|]*)", line)
      if m:
        args = shlex.split(m.group(2).split("#")[0])
        out.append((f"{path}: {m.group(0).strip()}", m.group(1), args))
  return out


def test_doc_commands_parse(monkeypatch, capsys):
  commands = doc_commands()
  assert commands, "no commands found in docs/"
  failures = []
  for where, script, args in commands:
    assert script in LAUNCHERS, where
    code, _ = parse([script, *args], launcher_flags(script), monkeypatch)
    if code is not None:
      failures.append(f"{where}\n  -> {capsys.readouterr().err.strip()}")
  assert not failures, "\n".join(failures)


def test_doc_config_keys_exist():
  valid = {k for path in EXPERIMENTS for k in cli.keys(cli.load(path))}
  key = re.compile(r"--config\.([a-z_][a-z0-9_.]*[a-z0-9_])")
  bad = [f"{p}: --config.{k}" for p in DOCS for k in key.findall(open(p).read()) if k not in valid]
  assert not bad, bad


def test_code_cites_nothing_outside_the_repository():
  found = []
  for top in CITING:
    for path in sorted(glob.glob(f"{top}/**/*.py", root_dir=ROOT, recursive=True)):
      if path == os.path.join("tests", "test_docs.py"):
        continue
      for i, line in enumerate(open(os.path.join(ROOT, path)), 1):
        if OUTSIDE.search(line):
          found.append(f"{path}:{i}: {line.strip()}")
  for path in DOCS:
    for i, line in enumerate(open(os.path.join(ROOT, path)), 1):
      if OUTSIDE.search(line):
        found.append(f"{path}:{i}: {line.strip()}")
  assert not found, "\n".join(found)


# A path of one machine: a home, root's home or a work area (generic /tmp examples are fine).
MACHINE_PATH = re.compile(r"(?<![\w.])/(home|root|work|Users|mnt)/")


def tracked_files():
  """The repository's files: `git ls-files` in a checkout, else every file outside .venv,
  build outputs and caches."""
  try:
    out = subprocess.run(
      ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    return [p for p in out.stdout.decode().split("\0") if p]
  except (OSError, subprocess.CalledProcessError):
    skip = {".venv", ".git", "build", "workdirs", "__pycache__"}
    out = []
    for d, dirs, files in os.walk(ROOT):
      dirs[:] = [x for x in dirs if x not in skip]
      out += [os.path.relpath(os.path.join(d, f), ROOT) for f in files]
    return out


def test_no_machine_paths_in_tracked_files():
  bad = []
  for path in tracked_files():
    try:
      text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
      continue  # binary files (figures, checkpoints), links
    bad += [
      f"{path}:{i}" for i, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)
    ]
  assert not bad, f"absolute paths of one machine: {bad[:20]}"
