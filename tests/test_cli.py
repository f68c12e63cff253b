"""Command lines: one `error:` line and exit 1 for every bad one; documented examples parse."""

import ast
import glob
import os
import re
import shlex
import signal
import subprocess
import sys

import pytest
from absl import flags

from darts_rl import cli
from darts_rl.sweep import options
from experiments.ppo_procgen import get_config
from tests.launch_process import LAUNCH_S, run_launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = "experiments/ppo_procgen.py"
EXPERIMENTS = sorted(
  p for p in glob.glob("experiments/*.py", root_dir=ROOT) if not p.endswith("__init__.py")
)
LAUNCHERS = sorted(glob.glob("launch/*.py", root_dir=ROOT))


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
  monkeypatch.chdir(ROOT)


def launcher_flags(script):
  """A fresh FlagValues holding the flags `script` defines (darts_rl/cli.py's included), made by
  replaying its top-level `flags.*` and `cli.define_config_flag` calls: parsing a launcher's
  command line without importing the launcher, which would define its flags globally."""
  fv = flags.FlagValues()
  for path in ("darts_rl/cli.py", script):
    for node in ast.parse(open(path).read()).body:
      call = getattr(node, "value", None)
      if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
      ):
        continue
      owner, fn = call.func.value.id, call.func.attr
      if owner == "cli" and fn == "define_config_flag":
        cli.define_config_flag(fv)
      elif owner == "options" and fn == "define_flags":  # the sweep launchers' executor flags
        options.define_flags(fv)
      elif owner == "flags" and (fn.startswith("DEFINE") or fn.startswith("mark_flag")):
        try:
          args = [ast.literal_eval(a) for a in call.args]
          kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except ValueError:  # a non-literal default or choices: the flag's name is checked
          if not fn.startswith("DEFINE"):
            continue
          fn, args, kwargs = "DEFINE_string", [ast.literal_eval(call.args[0]), None, ""], {}
        getattr(flags, fn)(*args, flag_values=fv, **kwargs)
  return fv


def parse(argv, fv, monkeypatch):
  """cli.parse_flags on `argv` -> (exit status or None, remaining argv)."""
  monkeypatch.setattr(sys, "argv", argv)  # ml_collections reads overrides from sys.argv
  try:
    return None, cli.parse_flags(argv, fv)
  except SystemExit as e:
    return e.code, None


BAD_COMMAND_LINES = [
  (
    ["--config.ppo.lr=1"],
    "error: unknown config key 'ppo.lr': no 'lr' in ppo (valid: clip_eps, entropy_coef, "
    "gae_lambda, gamma, grad_chunks, normalize_advantages, num_epochs, num_minibatches, "
    "num_steps, optimizer, reward_clip, value_clip_eps, value_coef); did you mean "
    "ppo.optimizer.lr?",
  ),
  (
    ["--config.sed=1"],
    "error: unknown config key 'sed': no 'sed' in the config's top level (valid: agent, arch, "
    "encoder, env, loop, ppo, seed); did you mean seed?",
  ),
  (
    ["--config.arch.update=alternating"],
    "error: unknown config key 'arch.update': no 'update' in arch (valid: "
    f"{', '.join(sorted(get_config('search,smoke').arch.keys()))}); did you mean arch.mode?",
  ),
  (
    ["--config.seed.x=1"],
    "error: unknown config key 'seed.x': seed is a field (int), not a group of fields",
  ),
  (
    ["--config.seed=abc"],
    "error: --config.seed=abc: invalid literal for int() with base 10: 'abc' (expected int)",
  ),
  (
    ["--config.ppo.gamma=high"],
    "error: --config.ppo.gamma=high: could not convert string to float: 'high' (expected float)",
  ),
  (
    ["--config.loop.eval_splits[0]=test"],
    "error: cannot set one item of tuple field 'loop.eval_splits' (loop.eval_splits[0]); give "
    "the whole tuple, comma-separated: --config.loop.eval_splits=...",
  ),
  (["--bogus=1"], "error: Unknown command line flag 'bogus'"),
  (["extra"], "error: unexpected arguments extra"),
]


@pytest.mark.parametrize("args,line", BAD_COMMAND_LINES, ids=lambda a: str(a)[:30])
def test_bad_command_line_is_one_error_line(args, line, tmp_path, monkeypatch, capsys):
  fv = launcher_flags("launch/search.py")
  argv = ["search.py", f"--config={CFG}:smoke", f"--workdir={tmp_path / 'w'}", *args]
  assert parse(argv, fv, monkeypatch) == (1, None)
  assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize(
  "spec,line",
  [
    ("experiments/nope.py", "error: config file experiments/nope.py not found"),
    (
      "experiments/ppo_procgn.py:search",
      "error: config file experiments/ppo_procgn.py not found; did you mean "
      "experiments/ppo_procgen.py?",
    ),
    (
      f"{CFG}:serch",
      "error: bad config variant 'serch': use PHASE[,SIZE][,robust] with PHASE "
      "in search/evaluate/baseline and SIZE in full/smoke/demo/cpu",
    ),
    (
      "experiments/rainbow_procgen.py:search,mult",
      "error: bad config variant 'search,mult': use "
      "PHASE[,SIZE][,multi] with PHASE in search/evaluate/baseline and SIZE in full/smoke/demo/cpu",
    ),
    ("experiments/__init__.py", "error: experiments/__init__.py has no get_config(arg) function"),
  ],
)
def test_bad_config_file_or_variant(spec, line, tmp_path, monkeypatch, capsys):
  fv = launcher_flags("launch/search.py")
  # An override too: a missing file must not fail on it first (ml_collections did).
  argv = ["search.py", f"--config={spec}", "--config.seed=1", f"--workdir={tmp_path / 'w'}"]
  assert parse(argv, fv, monkeypatch) == (1, None)
  assert capsys.readouterr().err == line + "\n"


def test_config_file_with_a_syntax_error(tmp_path, monkeypatch, capsys):
  (tmp_path / "broken.py").write_text("def get_config(arg=None):\n  return {\n")
  fv = launcher_flags("launch/search.py")
  argv = ["search.py", f"--config={tmp_path / 'broken.py'}", f"--workdir={tmp_path / 'w'}"]
  assert parse(argv, fv, monkeypatch) == (1, None)
  assert capsys.readouterr().err == f"error: {tmp_path / 'broken.py'}:2: '{{' was never closed\n"


def test_missing_required_flag(monkeypatch, capsys):
  fv = launcher_flags("launch/search.py")
  assert parse(["search.py", f"--config={CFG}:smoke"], fv, monkeypatch) == (1, None)
  assert capsys.readouterr().err == "error: missing required flag --workdir\n"
  fv = launcher_flags("launch/search.py")
  assert parse(["search.py", "--workdir=w"], fv, monkeypatch) == (1, None)
  assert capsys.readouterr().err == "error: missing required flag --config\n"


def test_good_command_line_applies_overrides(monkeypatch):
  fv = launcher_flags("launch/search.py")
  argv = [
    "search.py",
    "--config",
    f"{CFG}:search,smoke",
    "--config.ppo.optimizer.lr=0.1",
    "--config.env.games=coinrun",
    "--config.loop.eval_splits=train, test",  # comma-separated items of a tuple of strings
    "--noconfig.loop.tensorboard",
    "--workdir=w",
  ]
  assert parse(argv, fv, monkeypatch) == (None, ["search.py"])
  c = fv.config
  assert (c.ppo.optimizer.lr, c.env.games, c.loop.tensorboard) == (0.1, ("coinrun",), False)
  assert c.loop.eval_splits == ("train", "test")
  assert c.encoder.kind == "supernet" and c.env.num_envs == 4  # the variant was applied


def test_launchers_parse_through_cli():
  """Every launcher gets parse_flags: it defines --config through cli and runs through cli.run."""
  for path in LAUNCHERS:
    src = open(os.path.join(ROOT, path)).read()
    assert "cli.run(main" in src and "app.run" not in src, path
    assert "config_flags" not in src, f"{path}: define --config with cli.define_config_flag()"


def test_launcher_bad_key_writes_nothing(tmp_path):
  w = tmp_path / "w"
  out = run_launcher("search", f"--config={CFG}:smoke", "--config.ppo.lrr=1", f"--workdir={w}")
  assert out.returncode == 1 and out.stdout == ""
  assert out.stderr.splitlines() == [out.stderr.strip()]
  assert out.stderr.endswith("did you mean ppo.optimizer.lr?\n")
  assert not w.exists()


def test_print_config(tmp_path):
  # Without PYTHONPATH (as a user runs it): the macro config imports experiments.ppo_procgen.
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  out = run_launcher(
    "print_config",
    "--config=experiments/ppo_procgen_macro.py:search,demo",
    "--config.arch.mode=alternating",
    env=env,
  )
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  assert 'encoder.space = "macro"' in lines and 'arch.mode = "alternating"' in lines
  assert 'env.games = ["bigfish"]' in lines and "arch.optimizer.lr = 0.005" in lines
  expected = cli.load("experiments/ppo_procgen_macro.py:search,demo")
  assert [line.split(" = ")[0] for line in lines] == [k for k, _, _ in cli.leaves(expected)]
  bad = run_launcher(
    "print_config", "--config=experiments/ppo_procgen.py:demo,serch", "--format=json", env=env
  )
  assert bad.returncode == 1 and bad.stdout == ""
  assert bad.stderr.startswith("error: bad config variant 'demo,serch'")
  assert len(bad.stderr.splitlines()) == 1


def test_a_config_file_runs_once_per_command_line(monkeypatch):
  """parse_flags loads --config's file to check the overrides and hands that config to the
  flag: get_config runs once, and the overrides land on it."""
  loads = []
  load = cli.load
  monkeypatch.setattr(cli, "load", lambda spec: loads.append(spec) or load(spec))
  fv = launcher_flags("launch/search.py")
  argv = ["search.py", f"--config={CFG}:smoke", "--workdir=w", "--config.seed=7"]
  assert parse(argv, fv, monkeypatch)[0] is None
  assert loads == [f"{CFG}:smoke"] and fv["config"].value.seed == 7


# The flags each launcher's --help lists beside its own: devices and hosts for the training
# launchers, executors for the sweeps; absl's own (logging, verbosity) stay under --helpfull.
HELP_SHOWS = {
  "search": cli.DEVICE_FLAGS,
  "evaluate": cli.DEVICE_FLAGS,
  "reevaluate": cli.DEVICE_FLAGS,
  "random_search": options.FLAGS,
  "seeds": options.FLAGS,
  "print_config": ("explain", "format"),
}


@pytest.mark.parametrize("script", sorted(HELP_SHOWS))
def test_help_lists_the_projects_flags_not_absls(script):
  out = run_launcher(script, "--help")  # absl's --help prints the usage and exits 1
  listed = set(re.findall(r"^  --(\w+):", out.stdout, re.M))
  assert listed >= set(HELP_SHOWS[script]), out.stdout
  assert not listed & {"logtostderr", "verbosity", "only_check_args", "pdb"}, listed
  if script in ("random_search", "seeds"):
    assert not listed & set(cli.DEVICE_FLAGS)
  assert "--helpfull" in out.stdout


def test_op_set_as_comma_separated_op_names(monkeypatch):
  """`--config.encoder.op_set=Conv3x3,Relu,Zero` (a str field) is that list of ops."""
  from darts_rl.networks import make_encoder

  fv = launcher_flags("launch/search.py")
  argv = ["search.py", f"--config={CFG}:smoke", "--workdir=w"]
  argv.append("--config.encoder.op_set=Conv3x3, Relu,Zero")
  assert parse(argv, fv, monkeypatch)[0] is None
  config = fv["config"].value
  space = make_encoder(config.encoder, arch=config.arch).space
  assert space.op_names == ("Conv3x3", "Relu", "Zero")
  fv = launcher_flags("launch/search.py")
  argv[-1] = "--config.encoder.op_set=Conv3x3,Rleu"
  assert parse(argv, fv, monkeypatch)[0] is None  # the config is checked when the phase runs
  config = fv["config"].value
  with pytest.raises(ValueError, match="unknown op 'Rleu'; valid ops: "):
    make_encoder(config.encoder, arch=config.arch)


# --- The documented examples parse as written. ---


def docstring(path):
  return ast.get_docstring(ast.parse(open(path).read()), clean=False) or ""


def test_launcher_docstrings_survive_absl_usage():
  """absl prints a launcher's docstring as its --help with `doc % (argv[0], ...)`: a '%' in
  it (say "95% stratified") garbles the help, so the launchers spell percent out."""
  bad = [p for p in LAUNCHERS if "%" in docstring(p)]
  assert not bad, f"'%' in the docstring of {bad}"


def documented_commands():
  """(where, launcher script, argv) of every `python launch/X.py ...` in the launchers' and
  experiments' docstrings and in README.md; `[...]` marks optional parts, which are checked."""
  texts = [(p, docstring(p)) for p in LAUNCHERS + EXPERIMENTS]
  texts.append(("README.md", open("README.md").read().replace("\\\n", " ")))
  out = []
  for where, text in texts:
    for line in text.splitlines():
      m = re.search(r"python (launch/\w+\.py)([^`]*)", line)
      if m:
        tokens = shlex.split(m.group(2).replace("[", " ").replace("]", " "))
        if tokens and tokens[-1] == "&":  # the shell's "run in the background"
          tokens.pop()
        out.append(
          (
            f"{where}: {m.group(0).strip()}",
            m.group(1),
            [t for t in tokens if not t.endswith("...")],
          )
        )
  return out


def test_documented_commands_parse(tmp_path, monkeypatch, capsys):
  commands = documented_commands()
  assert {script for _, script, _ in commands} >= set(LAUNCHERS), "a launcher without example"
  failures = []
  for where, script, args in commands:
    code, _ = parse([script, *args], launcher_flags(script), monkeypatch)
    if code is not None:
      failures.append(f"{where}\n  -> {capsys.readouterr().err.strip()}")
  assert not failures, "\n".join(failures)


def test_documented_config_keys_exist():
  """Every `--config.KEY` in the docs and in the library's messages names a real field."""
  valid = set()
  for path in EXPERIMENTS:
    valid.update(cli.keys(cli.load(path)))
  paths = (
    ["README.md", "WORKSPACE.md", "benchmarks/RESULTS.md", "benchmarks/ARCHIVE.md"]
    + LAUNCHERS
    + EXPERIMENTS
    + glob.glob("darts_rl/**/*.py", recursive=True)
  )
  bad = []
  for path in paths:
    for key in re.findall(r"--config\.([a-z_][a-z0-9_.]*[a-z0-9_])", open(path).read()):
      if key not in valid:
        bad.append(f"{path}: --config.{key}")
  assert not bad, bad


# --- Ctrl-C ---

CTRL_C_LAUNCHER = """
import os, signal, threading, time
from darts_rl import cli

@cli.guarded
def main():
  # A non-daemon thread, as the actor thread of an overlapped run: it must not hold up the exit.
  threading.Thread(target=time.sleep, args=(3600,)).start()
  os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
  time.sleep(3600)

cli.run(main)
"""


def test_ctrl_c_is_one_line_and_ends_by_sigint(tmp_path):
  """Ctrl-C in a launcher: the line saying how to continue, no traceback, and the process ends
  by SIGINT (so a calling shell script stops as well) without waiting for other threads."""
  script = tmp_path / "launcher.py"
  script.write_text(CTRL_C_LAUNCHER)
  proc = subprocess.run(
    [sys.executable, str(script)],
    cwd=ROOT,
    capture_output=True,
    text=True,
    # A ceiling, not a speed check (importing jax on a busy machine can take minutes); without
    # the fix the process would sleep for an hour and run into it.
    timeout=LAUNCH_S,
  )
  assert proc.returncode == -signal.SIGINT
  assert proc.stderr.strip().splitlines() == [cli.INTERRUPTED]
