# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
# .venv is the default stack: Python 3.11, procgen-mirror, numpy<2, jax 0.7 (docs/stack.md
# says why). `make test-py313` sets up .venv313 with the current stack (Python 3.13,
# procgen-gym, numpy 2, current jax) and runs the stack-equivalence tests there.
# scripts/find_python.sh finds each Python (PATH, then pyenv) or says what to install;
# PYTHON=... / PYTHON313=... choose an interpreter.
PYTHON ?=
PYTHON313 ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VENV313 := .venv313
PY313 := $(VENV313)/bin/python
# scripts/install.sh installs without byte-compiling (uv, like pip --no-compile); Python
# writes the bytecode of the modules actually imported on their first import, which needs
# PYTHONDONTWRITEBYTECODE unset in the commands below (set, every process would compile jax
# and ray from source again).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-py313 lint install install-cuda sysdeps bench clean-demo

# scripts/install.sh installs the package and runs pip check (on Python 3.13 it installs
# dm_control with --no-deps, as labmaze has no 3.13 wheel, and accepts exactly that one gap).
$(STAMP): setup.py scripts/install.sh
	test -x $(PY) || { py=$$(bash scripts/find_python.sh 3.11 PYTHON $(PYTHON)) && \
	  "$$py" -m venv $(VENV); }
	bash scripts/install.sh $(PY) test
	touch $(STAMP)

$(VENV313)/.installed: setup.py scripts/install.sh
	test -x $(PY313) || { py=$$(bash scripts/find_python.sh 3.13 PYTHON313 $(PYTHON313)) && \
	  "$$py" -m venv $(VENV313); }
	bash scripts/install.sh $(PY313) test
	touch $@

install: $(STAMP) sysdeps

# System libraries for headless MuJoCo rendering (EGL, Mesa); no-op when present.
sysdeps:
	bash scripts/install_sysdeps.sh

test: install
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

# The current stack (Python 3.13) on the tests that compare it with the default one: the
# recorded Procgen frames, the env wrappers, devices (1 vs 4) and processes (1x4 vs 2x2).
STACK_TESTS := tests/test_procgen_frames.py tests/test_envs_procgen.py tests/test_envs_dmc.py \
  tests/test_parallel.py tests/test_multiprocess.py tests/test_networks.py tests/test_agents.py
test-py313: $(VENV313)/.installed sysdeps
	$(PY313) -m pytest -q -n 2 --dist loadgroup $(STACK_TESTS)

# NVIDIA GPUs: .venv as above plus jax's CUDA 12 plugin and the CUDA / cuDNN wheels (setup.py's
# `cuda` extra; docs/gpus.md). Prints the devices jax sees: GPUs, or a warning and the CPU.
install-cuda: install
	bash scripts/install.sh $(PY) test,cuda
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
