#!/usr/bin/env bash
# Installs the package (editable, with the given extras) into an existing virtual environment
# and checks its dependencies. The Makefile's install targets call it:
#
#   scripts/install.sh VENV_PYTHON EXTRAS        # e.g. scripts/install.sh .venv/bin/python test
#
# On Python 3.13 dm_control is installed here with --no-deps: it requires labmaze, which has no
# 3.13 wheel (its source build needs Bazel and downloads). Only dm_control's locomotion tasks
# import labmaze, never its suite, which is all darts_rl uses; setup.py lists dm_control's other
# requirements. `pip check` then reports exactly that one missing labmaze, which is accepted;
# any other problem fails the install.
#
# The packages are installed by uv (itself installed from PyPI into the environment), which
# installs the same pinned set as pip in a third of the time (scripts/install.sh's timings in
# benchmarks/ARCHIVE.md); like pip --no-compile it writes no bytecode up front.
set -euo pipefail
PY=${1:?usage: scripts/install.sh VENV_PYTHON EXTRAS}
EXTRAS=${2:?usage: scripts/install.sh VENV_PYTHON EXTRAS}
DM_CONTROL_NO_DEPS="dm_control==1.0.50"

"$PY" -m pip install -q --disable-pip-version-check uv
"$PY" -m uv pip install -q --python "$PY" -e ".[$EXTRAS]"
minor=$("$PY" -c 'import sys; print(sys.version_info[1])')
if [ "$minor" -ge 13 ]; then
  echo "installing $DM_CONTROL_NO_DEPS with --no-deps (labmaze has no Python 3.$minor wheel)"
  "$PY" -m uv pip install -q --python "$PY" --no-deps "$DM_CONTROL_NO_DEPS"
fi
if report=$("$PY" -m pip check 2>&1); then
  echo "$report"
  exit 0
fi
# pip check names the missing package as "<dist> <version> requires labmaze, which is not
# installed."; everything else it reports is a real conflict.
others=$(echo "$report" | grep -v -E '^dm-control [^ ]+ requires labmaze, which is not installed\.$' || true)
if [ "$minor" -ge 13 ] && [ -z "$others" ]; then
  echo "pip check: only labmaze is missing (dm_control's locomotion tasks; not used): accepted"
  exit 0
fi
echo "$report" >&2
echo "error: pip check found broken requirements (above)" >&2
exit 1
