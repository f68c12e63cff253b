"""The package's structure: one owner per workdir file; training code apart from analysis.

Read from the source (ast), nothing imported: workdir file names appear only in
darts_rl/artifacts/ (docstrings, tests and benchmarks excepted); no module outside
darts_rl/analysis/ reaches darts_rl.analysis or matplotlib, even through other modules; analysis
imports only artifacts, formatting, search and itself, and never reaches the training loop,
agents or envs; the model (networks, search) reads no workdir file (it never reaches artifacts:
it is handed what was read), and artifacts never reaches networks or training code.
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWNER = os.path.join("darts_rl", "artifacts")
NOT_CODE = ("tests", "benchmarks", "docs", ".venv", ".git", "build", "workdirs")
FILE_NAMES = re.compile(
  r"metrics\.jsonl|alphas\.npz|\beval(_[^\s\"']*)?\.json|genotype\.json|"
  r"genotype\.png|trials\.jsonl|config\.json|\bDONE\b"
)
ANALYSIS = "darts_rl.analysis"
ANALYSIS_MAY_IMPORT = (
  "darts_rl.analysis",
  "darts_rl.artifacts",
  "darts_rl.formatting",
  "darts_rl.search",
)
TRAINING = (
  "darts_rl.loop",
  "darts_rl.train",
  "darts_rl.agents",
  "darts_rl.envs",
  "darts_rl.rollout",
  "darts_rl.random_search",
  "darts_rl.phases",
)
MODEL = ("darts_rl.networks", "darts_rl.search")
ARTIFACTS = "darts_rl.artifacts"


def _code_files(root):
  for d, dirs, files in os.walk(root):
    dirs[:] = sorted(
      x
      for x in dirs
      if os.path.relpath(os.path.join(d, x), root) not in NOT_CODE and not x.startswith(".")
    )
    yield from (
      os.path.relpath(os.path.join(d, f), root) for f in sorted(files) if f.endswith(".py")
    )


def _docstrings(tree):
  nodes = [tree] + [
    n
    for n in ast.walk(tree)
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
  ]
  return {
    id(n.body[0].value)
    for n in nodes
    if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
  }


def file_name_literals(root):
  """['path:line: text'] for each string (not a docstring) naming a workdir file outside OWNER."""
  found = []
  for rel in _code_files(root):
    if rel.startswith(OWNER + os.sep):
      continue
    with open(os.path.join(root, rel)) as f:
      tree = ast.parse(f.read())
    docs = _docstrings(tree)
    for node in ast.walk(tree):
      if isinstance(node, ast.JoinedStr):  # f-strings: their text parts, {} for each field
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
      elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
        text = node.value
      else:
        continue
      if FILE_NAMES.search(text):
        found.append(f"{rel}:{node.lineno}: {text!r}")
  return sorted(set(found))


def _module(rel):
  parts = rel[:-3].split(os.sep)
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root):
  """{module: set of imported modules} for darts_rl/: darts_rl modules by full name (with the
  packages they run), anything else by its top-level name; imports inside functions count."""
  modules = {_module(rel): rel for rel in _code_files(root) if rel.startswith("darts_rl" + os.sep)}
  graph = {}
  for mod, rel in modules.items():
    with open(os.path.join(root, rel)) as f:
      tree = ast.parse(f.read())
    package = mod if rel.endswith("__init__.py") else mod.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names |= {a.name for a in node.names}
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the module's own package up
          base = ".".join(
            package.split(".")[: len(package.split(".")) - node.level + 1]
            + ([node.module] if node.module else [])
          )
        names.add(base)
        names |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
    edges = set()
    for name in names:
      if name.split(".")[0] != "darts_rl":
        edges.add(name.split(".")[0])
        continue
      parts = name.split(".")
      edges |= {
        ".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules
      }  # a module runs its packages first
    graph[mod] = edges - {mod}
  return graph


def reach(graph, start):
  seen, todo = set(), [start]
  while todo:
    for nxt in graph.get(todo.pop(), ()):
      if nxt not in seen:
        seen.add(nxt)
        todo.append(nxt)
  return seen


def _under(mod, prefixes):
  return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def structure_problems(root):
  graph = import_graph(root)
  problems = [f"workdir file named outside {OWNER}: {x}" for x in file_name_literals(root)]
  for mod in sorted(graph):
    reached = reach(graph, mod)
    if _under(mod, (ANALYSIS,)):
      problems += [
        f"{mod} (analysis) imports {m}"
        for m in sorted(graph[mod])
        if m.startswith("darts_rl.") and not _under(m, ANALYSIS_MAY_IMPORT)
      ]
      problems += [
        f"{mod} (analysis) reaches training module {m}"
        for m in sorted(reached)
        if _under(m, TRAINING)
      ]
    else:
      problems += [
        f"{mod} reaches {m}" for m in sorted(reached) if _under(m, (ANALYSIS, "matplotlib"))
      ]
    if _under(mod, MODEL):
      problems += [f"{mod} (model) reaches {m}" for m in sorted(reached) if _under(m, (ARTIFACTS,))]
    if _under(mod, (ARTIFACTS,)):
      problems += [
        f"{mod} (artifacts) reaches {m}"
        for m in sorted(reached)
        if _under(m, ("darts_rl.networks",) + TRAINING)
      ]
  return problems


def test_the_repository_keeps_its_structure():
  assert structure_problems(ROOT) == []


def _tree(root, files):
  for rel, text in files.items():
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
  "files, problem",
  [
    (
      {"darts_rl/loop.py": "import os\nPATH = os.path.join('w', 'metrics.jsonl')\n"},
      "workdir file named outside darts_rl/artifacts: darts_rl/loop.py:2: 'metrics.jsonl'",
    ),
    (
      {"launch/x.py": "def f(n):\n  return f'eval_{n}.json'\n"},
      "workdir file named outside darts_rl/artifacts: launch/x.py:2: 'eval_{}.json'",
    ),
    (
      {"darts_rl/phases.py": "def f():\n  from darts_rl.analysis import diagram\n"},
      "darts_rl.phases reaches darts_rl.analysis",
    ),
    (
      {
        "darts_rl/loop.py": "from darts_rl import plots\n",
        "darts_rl/plots.py": "import matplotlib\n",
      },
      "darts_rl.loop reaches matplotlib",
    ),
    (
      {
        "darts_rl/analysis/report.py": "from darts_rl.search import cells\n",
        "darts_rl/search/cells.py": "from darts_rl.agents import ppo\n",
      },
      "darts_rl.analysis.report (analysis) reaches training module darts_rl.agents.ppo",
    ),
    (
      {"darts_rl/analysis/report.py": "from darts_rl import cli\n"},
      "darts_rl.analysis.report (analysis) imports darts_rl.cli",
    ),
    (
      {"darts_rl/networks/encoders.py": "from darts_rl import artifacts\n"},
      "darts_rl.networks.encoders (model) reaches darts_rl.artifacts",
    ),
    (
      {"darts_rl/artifacts/genotype.py": "from darts_rl.networks import encoders\n"},
      "darts_rl.artifacts.genotype (artifacts) reaches darts_rl.networks",
    ),
  ],
)
def test_structure_problems_are_found(tmp_path, files, problem):
  base = {
    "darts_rl/__init__.py": "",
    "darts_rl/analysis/__init__.py": "",
    "darts_rl/agents/__init__.py": "",
    "darts_rl/agents/ppo.py": "",
    "darts_rl/search/__init__.py": "",
    "darts_rl/networks/__init__.py": "",
    "darts_rl/networks/encoders.py": "from darts_rl import search\n",
    "darts_rl/cli.py": "",
    "darts_rl/artifacts/__init__.py": "NAME = 'metrics.jsonl'\n",  # the owner may
    "darts_rl/analysis/diagram.py": '"""Draws genotype.json files."""\n',  # a docstring
    "tests/test_x.py": "X = 'DONE'\n",
  }
  _tree(tmp_path, base)
  assert structure_problems(str(tmp_path)) == []
  _tree(tmp_path, files)
  problems = structure_problems(str(tmp_path))
  assert any(p.startswith(problem) for p in problems), problems
