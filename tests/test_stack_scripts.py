"""The install scripts behind the Makefile: finding each stack's Python, the installer (uv,
installed by pip), and pip check's one accepted gap (labmaze on Python 3.13). Stand-ins for
python, pip and uv keep these fast."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIND = os.path.join(ROOT, "scripts", "find_python.sh")
INSTALL = os.path.join(ROOT, "scripts", "install.sh")
LABMAZE = "dm-control 1.0.50 requires labmaze, which is not installed."


BASH = shutil.which("bash")


def _run(args, env=None, cwd=ROOT):
  return subprocess.run(
    [BASH, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
  )


def test_a_given_interpreter_that_runs_is_used():
  out = _run([FIND, "3.13", "PYTHON313", sys.executable])
  assert out.returncode == 0, out.stderr
  assert os.path.samefile(out.stdout.strip(), sys.executable)


def test_a_missing_interpreter_says_what_to_install():
  out = _run([FIND, "3.13", "PYTHON313", "/nonexistent/python3.13"])
  assert out.returncode == 1 and out.stdout == ""
  lines = out.stderr.splitlines()
  assert lines[0] == "error: PYTHON313=/nonexistent/python3.13 does not run (not found or broken)"
  assert "Install Python 3.13, for example one of:" in out.stderr
  assert "pyenv install 3.13" in out.stderr and "PYTHON313=/path/to/python3.13" in out.stderr


def test_no_python_of_that_version_anywhere(tmp_path):
  os.symlink("/bin/cat", tmp_path / "cat")  # the message's only external command
  env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
  out = _run([FIND, "3.11", "PYTHON"], env=env)
  assert out.returncode == 1
  assert out.stderr.splitlines()[0] == (
    "error: no Python 3.11 found (looked for python3.11 on PATH and in pyenv)"
  )
  assert "pyenv install 3.11" in out.stderr


def test_an_unsupported_version_is_refused(tmp_path):
  fake = tmp_path / "python"
  fake.write_text("#!/bin/sh\necho 3.9\n")
  fake.chmod(0o755)
  out = _run([FIND, "3.11", "PYTHON", str(fake)])
  assert out.returncode == 1
  assert "is Python 3.9; darts-rl needs 3.11, 3.12 or 3.13" in out.stderr.splitlines()[0]


# A python stand-in: `-c` prints the minor version, `-m pip check` prints $PIP_CHECK and fails
# when it is not empty, every other pip or uv call succeeds and is logged.
FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = -c ]; then echo "$MINOR"; exit 0; fi
echo "$*" >> "$CALLS"
if [ "$3" = check ]; then
  if [ -n "$PIP_CHECK" ]; then printf '%s\\n' "$PIP_CHECK"; exit 1; fi
  echo "No broken requirements found."
fi
"""


def _install(tmp_path, minor, pip_check):
  fake = tmp_path / "python"
  fake.write_text(FAKE_PYTHON)
  fake.chmod(0o755)
  env = dict(os.environ, MINOR=str(minor), PIP_CHECK=pip_check, CALLS=str(tmp_path / "calls"))
  out = _run([INSTALL, str(fake), "test"], env=env)
  return out, (tmp_path / "calls").read_text().splitlines()


def test_install_on_313_adds_dm_control_without_deps_and_accepts_only_labmaze(tmp_path):
  out, calls = _install(tmp_path, 13, LABMAZE)
  assert out.returncode == 0, out.stderr
  uv = f"-m uv pip install -q --python {tmp_path / 'python'}"
  assert f"{uv} --no-deps dm_control==1.0.50" in calls
  assert calls[-1] == "-m pip check"
  assert "only labmaze is missing" in out.stdout


@pytest.mark.parametrize(
  "minor, report",
  [
    (13, LABMAZE + "\nrliable 1.2.0 requires arch, which is not installed."),
    (13, "jax 0.12.1 has requirement numpy>=2.1, but you have numpy 1.26.4."),
    (11, LABMAZE),  # 3.11 installs labmaze: its absence is a real gap there
  ],
)
def test_install_fails_on_any_other_broken_requirement(tmp_path, minor, report):
  out, calls = _install(tmp_path, minor, report)
  assert out.returncode == 1
  assert out.stderr.splitlines()[-1] == "error: pip check found broken requirements (above)"
  assert ("--no-deps" in " ".join(calls)) == (minor == 13)


def test_install_on_311_is_a_plain_install(tmp_path):
  out, calls = _install(tmp_path, 11, "")
  assert out.returncode == 0, out.stderr
  assert calls == [
    "-m pip install -q --disable-pip-version-check uv",
    f"-m uv pip install -q --python {tmp_path / 'python'} -e .[test]",
    "-m pip check",
  ]
