# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip installs without byte-compiling (--no-compile: the install takes half the time); Python
# writes the bytecode of the modules actually imported on their first import, which needs
# PYTHONDONTWRITEBYTECODE unset in the commands below (set, every process would compile jax
# and ray from source again).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint install install-cuda sysdeps bench clean-demo

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e '.[test]'
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP) sysdeps

# System libraries for headless MuJoCo rendering (EGL, Mesa); no-op when present.
sysdeps:
	bash scripts/install_sysdeps.sh

test: install
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

# NVIDIA GPUs: .venv as above plus jax's CUDA 12 plugin and the CUDA / cuDNN wheels (setup.py's
# `cuda` extra; docs/gpus.md). Prints the devices jax sees: GPUs, or a warning and the CPU.
install-cuda: install
	$(PY) -m pip install -q --no-compile -e '.[test,cuda]'
	$(PY) -m pip check
	$(PY) -c "import jax; print('jax', jax.__version__, jax.devices())"

# ruff check and ruff format --check on the whole tree (rules in pyproject.toml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# search -> discretize -> evaluate (searched cell and IMPALA baseline) -> report, one game; the
# baseline trains alongside the search at low priority (scripts/demo.sh says why).
DEMO := workdirs/demo
DEMO_CFG := experiments/ppo_procgen.py
demo: install
	PY="$(PY)" DEMO=$(DEMO) CFG=$(DEMO_CFG) bash scripts/demo.sh

clean-demo:
	rm -rf $(DEMO)

bench: install
	$(PY) benchmarks/encoders.py
