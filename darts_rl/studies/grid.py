"""A study's declaration and its expansion into a graph of steps.

A study file (experiments/studies/*.py) has `get_study(size) -> Study`: its axes (environments
and seeds) and its methods, each a chain of steps:

    Search(config)                 a supernet search per (env, seed)
    Retrain(config, at=(1.0,))     the search's cell discretized at each fraction of the search
                                   (its alphas history) and retrained from scratch
    Retrain(config, source=(method, env))   the cell another method searched on another env
    Cells(at=(1.0,))               the search's cells discretized at each fraction, not
                                   retrained (what a study of searches reports on)
    Baseline(config)               a hand-designed encoder trained per (env, seed)
    RandomCells(space, train, n)   n cells sampled uniformly from `space`'s search space, each
                                   trained with `train`'s budget, the best selected on
                                   validation levels (darts_rl/random_search.py)

Configs are `FILE:VARIANT` as on a command line; `{size}` in them is the study's size. Each
step of (method, env) writes one directory, a normal multi-seed workdir of the project:

    W/<method>/<env>/search/          launch/seeds.py's layout: seed_<S>/, seeds.jsonl
    W/<method>/<env>/retrain/         (retrain_at_050/ for a cell at half the search)
    W/<method>/<env>/cells/           seed_<S>_at_100.json: the discretized cells
    W/<method>/<env>/baseline/
    W/<method>/<env>/random/seed_<S>/ a random search (trials/, trials.jsonl)

so `launch/report.py --run=NAME=W/<method>/<env>/retrain` and every other tool read them as
they read any run. `expand` turns a study into `Node`s: jobs for an executor and quick steps the
driver does itself (discretizing, claiming workdirs), each knowing its inputs and whether its
output is already on disk, which is all a rerun needs to resume.
"""

import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from darts_rl import artifacts, cli, random_search, seeds
from darts_rl.sweep import graph
from darts_rl.sweep.jobs import TRAINING

SIZES = ("smoke", "cpu", "full")
FINAL = artifacts.FINAL
step_dir, retrain_step, cell_path, pct = (
  artifacts.step_dir,
  artifacts.retrain_step,
  artifacts.cell_path,
  artifacts.studies.pct,
)


class Search(NamedTuple):
  config: str
  overrides: Dict = {}


class Retrain(NamedTuple):
  config: str
  at: Tuple[float, ...] = (FINAL,)
  source: Optional[Tuple[str, str]] = None  # (method, env label): a cell searched elsewhere
  overrides: Dict = {}


class Cells(NamedTuple):
  at: Tuple[float, ...] = (FINAL,)


class Baseline(NamedTuple):
  config: str
  overrides: Dict = {}


class RandomCells(NamedTuple):
  space: str  # a search config: the space sampled (and its encoder's shape)
  train: str  # the config whose training budget (its `loop` section) every cell gets
  trials: int
  overrides: Dict = {}  # of the space's config; its `loop.*` ones set the training budget too


Step = object  # one of the five above


class Method(NamedTuple):
  name: str
  steps: Tuple[Step, ...]
  envs: Optional[Tuple[str, ...]] = None  # env labels it runs on (None: every env)


class Study(NamedTuple):
  """What a study file's get_study(arg) returns (arg: 'SIZE[,FLAG...]', see parse_variant).

  size: smoke | cpu | full, put into its configs' `{size}`. envs: (label, value) pairs; value
  is set as config[env_field] (env.games takes a tuple of games: one game, or several for a
  multi-game agent). reports: sections of darts_rl/analysis/studies.py (per_game, trajectory,
  efficiency, collapse)."""

  name: str
  size: str
  description: str
  env_field: str
  envs: Tuple[Tuple[str, object], ...]
  seeds: Tuple[int, ...]
  methods: Tuple[Method, ...]
  reports: Tuple[str, ...]


def parse_variant(arg: Optional[str], flags: Sequence[str] = ()) -> Tuple[str, set]:
  """'SIZE[,FLAG...]' -> (size, flags); size defaults to full, as the configs'."""
  tokens = [t for t in (arg or "full").split(",") if t]
  sizes = [t for t in tokens if t in SIZES]
  unknown = [t for t in tokens if t not in SIZES + tuple(flags)]
  if unknown or len(sizes) > 1:
    extra = "".join(f"[,{f}]" for f in flags)
    raise ValueError(f"bad study variant '{arg}': use SIZE{extra} with SIZE in {'/'.join(SIZES)}")
  return (sizes or ["full"])[0], {t for t in tokens if t in flags}


# Seeds per size: the smallest grid that runs every phase, two seeds for a CPU, three for the
# paper's settings (studies may name their own).
SEEDS = {"smoke": (0,), "cpu": (0, 1), "full": (0, 1, 2)}


def darts(name: str, config: str, at=(FINAL,), envs=None, search=None, retrain=None) -> "Method":
  """A DARTS method: CONFIG's search, then its cell(s) at `at` retrained with CONFIG's evaluate
  variant. config: 'FILE' or 'FILE:FLAGS' (variants become search,{size}[,FLAGS]); search,
  retrain: overrides of either phase ({"loop.total_env_steps": ...})."""
  path, _, flags = config.partition(":")
  extra = f",{flags}" if flags else ""
  return Method(
    name,
    (
      Search(f"{path}:search,{{size}}{extra}", dict(search or {})),
      Retrain(f"{path}:evaluate,{{size}}{extra}", at=at, overrides=dict(retrain or {})),
    ),
    envs=envs,
  )


def games(*names: str) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
  """One env per Procgen game (env.games = (game,))."""
  return tuple((g, (g,)) for g in names)


Node = graph.Node

# At the smoke size (the test suite's) a job evaluates only what a report reads: no learning
# curve, and a final evaluation on test levels, where every reported return is measured, plus
# validation levels for random cells, which are selected there. The larger sizes keep their
# configs' evaluations (train levels too).
SMOKE_EVAL = {"loop.eval_every_env_steps": 0, "loop.eval_splits": ("test",)}
SMOKE_EVAL_SELECTED = dict(SMOKE_EVAL, **{"loop.eval_splits": ("test", "validation")})


def load_config(spec: str, study: Study, size: str, env_value, overrides: Dict):
  """A step's config: FILE:VARIANT ({size} filled in) with the env axis and overrides set."""
  c = cli.load(spec.replace("{size}", size))
  c = c.copy_and_resolve_references()
  for key, value in {study.env_field: env_value, **overrides}.items():
    cli.check_override(c, key)
    *path, leaf = key.split(".")
    holder = c
    for part in path:
      holder = holder[part]
    holder[leaf] = tuple(value) if isinstance(value, list) else value
  return c


def _discretize_node(name, deps, search_dir, seed, fraction, out) -> Node:
  def run():
    from darts_rl.networks import make_encoder

    sd = artifacts.seed_dir(search_dir, seed)
    config = artifacts.load_config(sd, want_phase="search")
    space = make_encoder(config.encoder, arch=config.arch).space
    _, alphas = artifacts.alphas_at(sd, space.init_alphas(), fraction)
    genotype = space.discretize(alphas, config.arch.discretize_k, config.encoder.temperature)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    artifacts.write_genotype(out, genotype, env=config.env)

  return Node(name, tuple(deps), lambda: os.path.isfile(out), run=run, workdir=out)


def expand(study: Study, workdir: str, training: str = TRAINING) -> List[Node]:
  """The study's nodes in a valid order (every node after its deps). training: the module
  jobs train with (tests pass one that trains nothing, as for sweeps)."""
  envs, size = dict(study.envs), study.size
  smoke = size == "smoke"
  nodes: List[Node] = []

  def add_cells(src_m: str, src_env: str, fraction: float):
    """The discretizing node of (method, env)'s search at `fraction`, per seed (once)."""
    src_dir = step_dir(workdir, src_m, src_env, "search")
    for s in study.seeds:
      cell = f"{src_m}/{src_env}/cells/seed_{s}_at_{pct(fraction)}"
      if not any(n.name == cell for n in nodes):
        search = f"{src_m}/{src_env}/search/seed_{s}"
        out = cell_path(workdir, src_m, src_env, s, fraction)
        nodes.append(_discretize_node(cell, (search,), src_dir, s, fraction, out))

  for m in study.methods:
    for env, value in study.envs:
      if m.envs is not None and env not in m.envs:
        continue
      base = f"{m.name}/{env}"

      def cfg(spec, overrides, value=value):
        overrides = dict(SMOKE_EVAL if smoke else {}, **overrides)
        return lambda: load_config(spec, study, size, value, overrides)

      def per_seed(step_name, phase, config_fn, deps=lambda s: (), base=base, env=env):
        d = step_dir(workdir, m.name, env, step_name)
        for s in study.seeds:
          name = f"{base}/{step_name}/seed_{s}"
          nodes.append(seeds.seed_node(name, deps(s), d, phase, s, config_fn, training))

      for step in m.steps:
        if isinstance(step, Search):
          per_seed("search", "search", cfg(step.config, step.overrides))
        elif isinstance(step, Retrain):
          src_m, src_env = step.source or (m.name, env)
          if src_env not in envs:
            raise ValueError(
              f"study {study.name}: method {m.name} reads env '{src_env}', not an env of the study"
            )
          for f in step.at:
            add_cells(src_m, src_env, f)
            genotype = cell_path(workdir, src_m, src_env, "{seed}", f)
            overrides = {"encoder.genotype": os.path.abspath(genotype), **step.overrides}
            per_seed(
              retrain_step(f),
              "evaluate",
              cfg(step.config, overrides),
              lambda s, f=f: (f"{src_m}/{src_env}/cells/seed_{s}_at_{pct(f)}",),
            )
        elif isinstance(step, Cells):
          for f in step.at:
            add_cells(m.name, env, f)
        elif isinstance(step, Baseline):
          per_seed("baseline", "evaluate", cfg(step.config, step.overrides))
        elif isinstance(step, RandomCells):
          for s in study.seeds:

            def random_config(step=step, value=value, s=s):
              c = load_config(step.space, study, size, value, dict(step.overrides, seed=s))
              train = dict(
                SMOKE_EVAL_SELECTED if smoke else {},
                **{k: v for k, v in step.overrides.items() if k.startswith("loop.")},
              )
              c.loop = load_config(step.train, study, size, value, train).loop
              return c

            d = artifacts.random_dir(workdir, m.name, env, s)
            nodes += random_search.search_nodes(
              d, step.trials, random_config, training, prefix=f"{base}/random/seed_{s}"
            )
        else:
          raise ValueError(f"study {study.name}: unknown step {step!r} in method {m.name}")
  names = [n.name for n in nodes]
  known = set(names)
  for n in nodes:
    lacking = [d for d in n.deps if d not in known]
    if lacking:
      raise ValueError(f"study {study.name}: {n.name} needs {lacking[0]}, which no method searches")
  if len(known) != len(names):
    raise ValueError(f"study {study.name}: two steps write the same output")
  return _ordered(nodes)


def _ordered(nodes: Sequence[Node]) -> List[Node]:
  """Nodes with every dep first (a node whose source search comes later in the file moves
  after it), otherwise in declaration order."""
  by_name, out, seen = {n.name: n for n in nodes}, [], set()

  def visit(n):
    if n.name in seen:
      return
    seen.add(n.name)
    for d in n.deps:
      visit(by_name[d])
    out.append(n)

  for n in nodes:
    visit(n)
  return out


def describe_steps(study: Study) -> dict:
  """{method: [step, ...]} as the study's record keeps it (darts_rl/artifacts/studies.py), for
  readers that never import a study file (the report)."""
  out = {}
  for m in study.methods:
    steps = []
    for step in m.steps:
      if isinstance(step, Search):
        steps.append({"step": "search"})
      elif isinstance(step, Retrain):
        steps.append(
          {"step": "retrain", "at": list(step.at), "source": step.source and list(step.source)}
        )
      elif isinstance(step, Cells):
        steps.append({"step": "cells", "at": list(step.at)})
      elif isinstance(step, Baseline):
        steps.append({"step": "baseline"})
      elif isinstance(step, RandomCells):
        steps.append({"step": "random", "trials": step.trials})
    out[m.name] = {"steps": steps, "envs": list(m.envs) if m.envs is not None else None}
  return out
