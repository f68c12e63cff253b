#!/usr/bin/env bash
# Prints the path of a Python interpreter for a stack, or says what to install (exit 1).
#
#   scripts/find_python.sh VERSION VARIABLE [CANDIDATE]
#
# CANDIDATE (the value of the Makefile's VARIABLE, PYTHON or PYTHON313) is used when given,
# provided it runs and is a Python the package supports (3.11 to 3.13; setup.py picks the
# stack by its version).
# Otherwise: pythonVERSION on PATH, then pyenv's installed VERSION.x (its shim refuses a
# version that is installed but not selected, so the interpreter is taken from pyenv's root).
set -uo pipefail
VERSION=${1:?usage: scripts/find_python.sh VERSION VARIABLE [CANDIDATE]}
VARIABLE=${2:?usage: scripts/find_python.sh VERSION VARIABLE [CANDIDATE]}
CANDIDATE=${3:-}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

how_to_install() {
  cat >&2 <<EOF
  Install Python $VERSION, for example one of:
    pyenv install $VERSION            (then it is found under \$(pyenv root)/versions)
    apt-get install python$VERSION python$VERSION-venv   (where the distribution ships it)
    uv python install $VERSION        (then pass $VARIABLE=\$(uv python find $VERSION))
  or point the Makefile at an interpreter: make ... $VARIABLE=/path/to/python$VERSION
  (docs/stack.md: which Python gives which stack).
EOF
}

if [ -n "$CANDIDATE" ]; then
  found=$(version_of "$CANDIDATE")
  case "$found" in
    3.11 | 3.12 | 3.13)
      command -v "$CANDIDATE"
      exit 0
      ;;
    "") echo "error: $VARIABLE=$CANDIDATE does not run (not found or broken)" >&2 ;;
    *) echo "error: $VARIABLE=$CANDIDATE is Python $found; darts-rl needs 3.11, 3.12 or 3.13" >&2 ;;
  esac
  how_to_install
  exit 1
fi

candidates=("python$VERSION")
if command -v pyenv > /dev/null 2>&1; then
  root=$(pyenv root)
  for dir in $(ls -d "$root/versions/$VERSION".* 2> /dev/null | sort -V -r); do
    candidates+=("$dir/bin/python$VERSION")
  done
fi
for c in "${candidates[@]}"; do
  if [ "$(version_of "$c")" = "$VERSION" ]; then
    command -v "$c"
    exit 0
  fi
done
echo "error: no Python $VERSION found (looked for python$VERSION on PATH and in pyenv)" >&2
how_to_install
exit 1
