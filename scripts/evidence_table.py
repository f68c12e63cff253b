"""The evidence tables of experiments/results/, generated from the runs' own files.

  python scripts/evidence_table.py            # rewrites the generated blocks (see below)
  python scripts/evidence_table.py --check    # exit 1 if a generated block is stale
  python scripts/evidence_table.py --readme   # prints the README's evidence table
  python scripts/evidence_table.py --collect=FOLDER --from=W   # copies W/RUN's kept files

Each results folder has a `runs.json` that names its runs and the exact command of each:
a launcher, a config variant and `--config.KEY` overrides, never a shell string:

  {"title": "...", "random": "random",            # the uniform-random reference run
   "runs": [{"name": "search",                    # its folder (or "../other/run": a run of
                                                  #   another folder, listed with no command)
             "launch": "search",                  # launch/<launch>.py
             "config": "experiments/ppo_procgen.py:search,cpu",
             "overrides": {"seed": 1},            # --config.seed=1
             "flags": ["--random_policy"],        # other launcher flags
             "episodes": 256,                     # launch/reevaluate.py --episodes=256
             "seed_offset": 1,                    #   ... --seed_offset=1 (a fresh evaluation)
             "seeds": [0, 1, 2],                  # one run per seed: NAME/seed_S, seed=S
             "group": "ppo",                      # the aggregate compares runs of one group
             "readme": true}]}                    # a row of the README's table

From each run's files (eval.json, eval_<N>.json, metrics.jsonl; config.json when kept) the
script writes two blocks into the folder's README.md, between `<!-- evidence_table: runs -->`
/ `<!-- evidence_table: commands -->` and `<!-- /evidence_table -->`: the table of runs (each
evaluation's mean and standard error, how far above the random run in standard errors of the
difference) and the commands; where entries have seeds, the runs block adds the aggregate
over seeds (rliable: IQM and mean with 95% stratified-bootstrap intervals, probability of
improvement between the entries of a group, on test levels); where searches logged the
collapse monitor, its table. README.md's block `<!-- evidence_table: readme -->` holds the
rows marked "readme" of every folder. New folders need only their runs.json and files.
"""

import argparse
import glob
import itertools
import json
import math
import os
import re
import shutil
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from darts_rl import artifacts  # noqa: E402
from darts_rl.analysis import collapse, statistics  # noqa: E402
from darts_rl.formatting import format_duration  # noqa: E402

RESULTS = "experiments/results"
MANIFEST = "runs.json"
README = "README.md"
WORKDIRS = "workdirs/evidence"  # where the printed commands put their workdirs
SPLIT_NAMES = {"train_levels": "train levels", "test_levels": "test levels"}
BLOCK = re.compile(r"(<!-- evidence_table: (\w+) -->\n)(.*?)(<!-- /evidence_table -->)", re.S)
# The files a results folder keeps of each run (no checkpoints, no TensorBoard events).
KEPT = (artifacts.CONFIG, artifacts.EVAL, artifacts.METRICS, artifacts.ALPHAS, artifacts.GENOTYPE)


class Run:
  """One run of a results folder: its manifest entry and what its files say."""

  def __init__(self, folder: str, entry: dict):
    self.entry = entry
    self.name = entry["name"]
    self.path = os.path.normpath(os.path.join(ROOT, folder, self.name))
    self.own = artifacts.read_eval(self.path, missing_ok=True)
    self.best, self.best_file = artifacts.best_eval(self.path)
    try:
      self.env_steps, self.wall_s = artifacts.training_compute(self.path)
    except artifacts.ArtifactError:  # no metrics.jsonl: a random-policy run
      self.env_steps = self.own["env_steps"] if self.own else None
      self.wall_s = None
    self.has_config = os.path.isfile(os.path.join(self.path, artifacts.CONFIG))

  def splits(self) -> List[str]:
    return [s for s in artifacts.SPLITS if self.best and self.best.get(s)]

  def shown_splits(self) -> List[str]:
    """The splits the tables have columns for (a fresh evaluation also has validation)."""
    return [s for s in self.splits() if s in SPLIT_NAMES]

  def mean_se(self, split: str) -> Tuple[float, float, int]:
    s = self.best[split]
    n = int(s["episodes"])
    return float(s["mean_return"]), float(s["std_return"]) / math.sqrt(max(n, 1)), n


def _num(x: float, like: Optional[float] = None) -> str:
  """Two decimals; none for returns of 100 and more (`like`: the value that decides)."""
  return f"{x:.0f}" if abs(x if like is None else like) >= 100 else f"{x:.2f}"


def _cell(run: Run, split: str) -> str:
  if split not in run.splits():
    return "-"
  mean, se, _ = run.mean_se(split)
  return f"{_num(mean)} ± {_num(se, like=mean)}"


def _is_random(run: Run) -> bool:
  return "--random_policy" in run.entry.get("flags", []) or (
    run.own is not None and run.own.get("phase") == "random_policy"
  )


def _steps(run: Run) -> str:
  return "-" if _is_random(run) or run.env_steps is None else f"{run.env_steps:,}"


def _above(run: Run, reference: Optional["Reference"]) -> str:
  """Each split's (mean - random mean) / standard error of the difference."""
  ref = reference.of(run) if reference is not None else None
  if ref is None or run is ref or _is_random(run):
    return "-"
  out = []
  for split in run.shown_splits():
    if split in ref.splits():
      m, se, _ = run.mean_se(split)
      mr, ser, _ = ref.mean_se(split)
      out.append(f"{(m - mr) / math.hypot(se, ser):+.1f}")
  return " / ".join(out) or "-"


def _episodes(run: Run) -> str:
  if not run.best:
    return "-"
  ns = sorted({run.mean_se(s)[2] for s in run.shown_splits()})
  return f"{'/'.join(map(str, ns))} ({run.best_file})"


def _own(run: Run) -> str:
  """The run's own final evaluation (eval.json) when the table shows a re-evaluation."""
  if not run.own or run.best_file == artifacts.EVAL:
    return ""
  means = " / ".join(_num(run.own[s]["mean_return"]) for s in run.shown_splits() if run.own.get(s))
  ns = {int(run.own[s]["episodes"]) for s in run.shown_splits() if run.own.get(s)}
  return f"{means} ({'/'.join(map(str, sorted(ns)))})"


def command_args(entry: dict, workdir: str) -> List[str]:
  """The launcher's arguments of a manifest entry, the workdir last."""
  args = [f"--config={entry['config']}"]
  args += [f"--config.{k}={_flag_value(v)}" for k, v in entry.get("overrides", {}).items()]
  return args + list(entry.get("flags", [])) + [f"--workdir={workdir}"]


def _flag_value(v) -> str:
  if isinstance(v, (list, tuple)):
    return "(" + ",".join(map(str, v)) + ("," if len(v) == 1 else "") + ")"
  return str(v)


def commands(folder: str, manifest: dict) -> List[str]:
  name = os.path.basename(folder)
  out = []
  for entry in (e for item in manifest["runs"] for e in expand(item)):
    if "launch" not in entry:
      continue
    w = f"{WORKDIRS}/{name}/{entry['name']}"
    out.append(f"python launch/{entry['launch']}.py " + " ".join(command_args(entry, w)))
    if entry["launch"] == "search":
      out.append(f"python launch/discretize.py --workdir={w}")
    if entry.get("episodes"):
      offset = f" --seed_offset={entry['seed_offset']}" if entry.get("seed_offset") else ""
      out.append(
        f"python launch/reevaluate.py --workdir={w} --episodes={entry['episodes']}{offset}"
      )
  out.append(f"python scripts/evidence_table.py --collect={folder} --from={WORKDIRS}/{name}")
  return out


def expand(entry: dict) -> List[dict]:
  """The runs of a manifest entry: itself, or with "seeds" one per seed (NAME/seed_S, the
  override seed=S; "method" keeps NAME)."""
  if "seeds" not in entry:
    return [dict(entry, method=entry["name"])]
  out = []
  for seed in entry["seeds"]:
    e = {k: v for k, v in entry.items() if k != "seeds"}
    e["name"] = f"{entry['name']}/seed_{seed}"
    if "launch" in entry:
      e["overrides"] = dict(entry.get("overrides", {}), seed=seed)
    out.append(dict(e, method=entry["name"]))
  return out


class Reference:
  """The folder's random-policy reference: a run, or an entry with seeds (each run is then
  compared with the reference run of its own seed, else the reference's first seed)."""

  def __init__(self, runs: List[Run]):
    self.runs = runs
    self.name = runs[0].entry["method"]

  def of(self, run: Run) -> Run:
    seed = run.name[len(run.entry["method"]) :]
    return next((r for r in self.runs if r.name == self.name + seed), self.runs[0])


def load(folder: str) -> Tuple[dict, List[Run], Optional[Reference]]:
  with open(os.path.join(ROOT, folder, MANIFEST)) as f:
    manifest = json.load(f)
  runs = [Run(folder, e) for entry in manifest["runs"] for e in expand(entry)]
  by_name = {r.name: r for r in runs}
  ref = manifest.get("random")
  if ref is None:
    return manifest, runs, None
  refs = [by_name[ref]] if ref in by_name else [r for r in runs if r.entry["method"] == ref]
  if not refs:
    raise ValueError(f"{folder}/{MANIFEST}: random run '{ref}' is not one of its runs")
  return manifest, runs, Reference(refs)


def _config_text(entry: dict) -> str:
  if "launch" not in entry:
    return "(its own folder's command)"
  parts = [f"`{entry['config'].split('/')[-1]}`"]
  parts += [
    f"`{k}={_flag_value(v)}`"
    for k, v in entry.get("overrides", {}).items()
    if k != "encoder.genotype" and not (k == "seed" and entry["name"] != entry["method"])
  ]
  if "encoder.genotype" in entry.get("overrides", {}):
    parts.append(
      "genotype of `"
      + os.path.dirname(entry["overrides"]["encoder.genotype"]).replace(RESULTS + "/", "")
      + "`"
    )
  parts += [f"`{f}`" for f in entry.get("flags", [])]
  return " ".join(parts)


def runs_table(folder: str) -> str:
  manifest, runs, ref = load(folder)
  lines = [
    "| run | config | env steps | wall time | train levels | test levels | "
    "episodes (file) | own eval (episodes) | vs random (SE) |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in runs:
    lines.append(
      f"| `{r.name}` | {_config_text(r.entry)} | {_steps(r)} | "
      f"{format_duration(r.wall_s) if r.wall_s else '-'} | "
      f"{_cell(r, 'train_levels')} | {_cell(r, 'test_levels')} | {_episodes(r)} | "
      f"{_own(r) or '-'} | {_above(r, ref)} |"
    )
  lines += [
    "",
    "Train / test levels: mean ± standard error (std / √episodes) of each run's "
    "evaluation with the most episodes; own eval: the run's final evaluation, train / "
    "test levels, when a re-evaluation is shown; vs random: (mean - random's mean) / "
    "standard error of the difference, per split"
    + (
      f" (random: `{ref.name}`{', the same seed' if len(ref.runs) > 1 else ''})"
      if ref
      else " (no random run)"
    )
    + f"; wall time: {artifacts.METRICS}'s last wall_s (training and the final evaluation).",
  ]
  lines += aggregate_lines(runs) + collapse_lines(runs)
  missing = [r.name for r in runs if not r.has_config and "launch" in r.entry]
  if missing:
    lines += [
      "",
      f"No {artifacts.CONFIG} kept for: "
      + ", ".join(f"`{m}`" for m in missing)
      + " (run before results folders kept it).",
    ]
  return "\n".join(lines) + "\n"


def seeded_methods(runs: List[Run], split: str = "test_levels") -> Dict[str, Dict[str, List[Run]]]:
  """{group: {method: its seeds' runs}} of the entries with seeds that have `split`, for the
  groups where some method has two seeds or more."""
  groups: Dict[str, Dict[str, List[Run]]] = {}
  for r in runs:
    if r.name != r.entry["method"] and split in r.splits():
      groups.setdefault(r.entry.get("group", ""), {}).setdefault(r.entry["method"], []).append(r)
  return {g: m for g, m in groups.items() if any(len(rs) > 1 for rs in m.values())}


def aggregate_rows(methods: Dict[str, List[Run]], split: str = "test_levels"):
  """([(method, seeds, returns per seed, IQM [CI], mean [CI])], [(X, Y, P(X > Y))]) of one
  group's methods: each seed's mean return on `split`, rliable's estimates over seeds."""
  scores = {
    m: np.array([[r.mean_se(split)[0]] for r in rs], np.float64) for m, rs in methods.items()
  }
  est = statistics.interval_estimates(scores)
  rows = []
  for m, rs in methods.items():
    per_seed = ", ".join(_num(r.mean_se(split)[0]) for r in rs)
    ci = {k: "{} [{}, {}]".format(*(_num(x, like=v[0]) for x in v)) for k, v in est[m].items()}
    rows.append((m, len(rs), per_seed, ci["IQM"], ci["mean"]))
  pairs = [
    (x, y, statistics.probability_of_improvement(scores[x], scores[y]))
    for x, y in itertools.combinations(scores, 2)
  ]
  return rows, pairs


def aggregate_lines(runs: List[Run], split: str = "test_levels") -> List[str]:
  """Markdown lines of the aggregate over seeds of the entries with seeds: per group, each
  entry's seeds' means on `split`, IQM and mean with 95% stratified-bootstrap intervals, and
  P(X > Y) for each pair of entries of the group; [] when no entry has two seeds."""
  groups = seeded_methods(runs, split)
  if not groups:
    return []
  lines = [
    "",
    f"Across seeds ({SPLIT_NAMES[split]}; seeds are the unit, each seed's mean return of the "
    "evaluation above): IQM and mean with 95% stratified-bootstrap intervals (rliable, "
    "2000 resamples), P(X > Y) the chance that a seed of X beats a seed of Y (ties half).",
    "",
    "| group | run | seeds | returns per seed | IQM [95% CI] | mean [95% CI] |",
    "|---|---|---|---|---|---|",
  ]
  pairs = []
  for group, methods in groups.items():
    rows, group_pairs = aggregate_rows(methods, split)
    lines += [
      f"| {group or '-'} | `{m}` | {n} | {per} | {iqm} | {mean} |" for m, n, per, iqm, mean in rows
    ]
    pairs += [f"| {group or '-'} | `{x}` | `{y}` | {p:.2f} |" for x, y, p in group_pairs]
  if pairs:
    lines += ["", "| group | X | Y | P(X > Y) |", "|---|---|---|---|"] + pairs
  return lines


def collapse_lines(runs: List[Run]) -> List[str]:
  """The collapse monitor's table of the search runs that logged it (analysis/collapse.py)."""
  searches = [r for r in runs if r.entry.get("launch") == "search" or "launch" not in r.entry]
  rows = {}
  for r in searches:
    try:
      rows[r.name] = artifacts.read_metrics(r.path)
    except artifacts.ArtifactError:
      continue
  table = collapse.collapse_table(rows, {r.name: r.path for r in searches if r.name in rows})
  if table is None:
    return []
  return [
    "",
    "Collapse monitor (searches that logged it): the mixing weight on parameter-free ops at "
    "the end, per cell type; the dominant Hessian eigenvalue of the loss w.r.t. the alphas, "
    "first / last / max probe; early stopping; parameter-free ops among the discretized "
    "cell's edges.",
    "",
    table,
  ]


def commands_block(folder: str) -> str:
  manifest, _, _ = load(folder)
  return "```\n" + "\n".join(commands(folder, manifest)) + "\n```\n"


def readme_table() -> str:
  """The README's tables: one row per run of the entries marked "readme" without seeds, and
  for those with seeds, one row per method: its seeds' test returns and rliable's IQM and mean
  with 95% intervals (each folder's README has the per-seed rows)."""
  lines = [
    "| folder | run | env steps | train levels | test levels | episodes | vs random (SE) |",
    "|---|---|---|---|---|---|---|",
  ]
  seeded = []
  for folder in folders():
    manifest, runs, ref = load(folder)
    marked = [r for r in runs if r.entry.get("readme")]
    for r in marked:
      if r.name == r.entry["method"]:
        lines.append(
          f"| `{folder}/` | `{r.name}` | {_steps(r)} | {_cell(r, 'train_levels')} | "
          f"{_cell(r, 'test_levels')} | {_episodes(r)} | {_above(r, ref)} |"
        )
    for group, methods in seeded_methods(marked).items():
      rows, _ = aggregate_rows(methods)
      seeded += [(folder, group, row) for row in rows]
  lines += [
    "",
    "Mean ± standard error over one policy's episodes; vs random in standard errors of the "
    "difference (`python scripts/evidence_table.py`).",
  ]
  if seeded:
    lines += [
      "",
      "| folder | method | seeds | test levels per seed | IQM [95% CI] | mean [95% CI] |",
      "|---|---|---|---|---|---|",
    ]
    lines += [
      f"| `{folder}/` | `{m}`{f' ({group})' if group else ''} | {n} | {per} | {iqm} | {mean} |"
      for folder, group, (m, n, per, iqm, mean) in seeded
    ]
    lines += [
      "",
      "Seeds are the unit: each seed's reported test-level evaluation (its fresh one where it "
      "has one), intervals from rliable's stratified bootstrap over seeds (2000 resamples).",
    ]
  return "\n".join(lines) + "\n"


def folders() -> List[str]:
  return sorted(
    os.path.relpath(os.path.dirname(p), ROOT)
    for p in glob.glob(os.path.join(ROOT, RESULTS, "*", MANIFEST))
  )


def run_dirs(folder: str) -> List[str]:
  """Every directory under `folder` that holds an evaluation: the runs its files show."""
  base = os.path.join(ROOT, folder)
  return sorted(
    os.path.relpath(d, base) for d, _, files in os.walk(base) if artifacts.EVAL in files
  )


def render(path: str, blocks: Dict[str, str]) -> str:
  """`path`'s text with each generated block replaced ({kind: text})."""
  with open(path) as f:
    text = f.read()
  return BLOCK.sub(lambda m: m.group(1) + blocks.get(m.group(2), m.group(3)) + m.group(4), text)


def targets() -> Dict[str, Dict[str, str]]:
  """{file: {block kind: generated text}} for every file with generated blocks."""
  out = {
    os.path.join(ROOT, f, README): {"runs": runs_table(f), "commands": commands_block(f)}
    for f in folders()
  }
  if os.path.isfile(os.path.join(ROOT, README)):
    out[os.path.join(ROOT, README)] = {"readme": readme_table()}
  return out


def stale() -> List[str]:
  out = []
  for path, blocks in targets().items():
    with open(path) as f:
      if f.read() != render(path, blocks):
        out.append(os.path.relpath(path, ROOT))
  return out


def collect(folder: str, source: str) -> List[str]:
  """Copies each run's kept files from SOURCE/RUN into FOLDER/RUN; returns what it copied."""
  manifest, _, _ = load(folder)
  copied = []
  for entry in (e for item in manifest["runs"] for e in expand(item)):
    if "launch" not in entry:
      continue
    src, dst = os.path.join(source, entry["name"]), os.path.join(ROOT, folder, entry["name"])
    if not os.path.isdir(src):
      raise FileNotFoundError(f"{src} not found: run the folder's commands first")
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
      if name in KEPT or artifacts.is_reeval_file(name):
        shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
        copied.append(os.path.join(folder, entry["name"], name))
  return copied


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--check", action="store_true", help="exit 1 if a generated block is stale")
  ap.add_argument("--readme", action="store_true", help="print the README's evidence table")
  ap.add_argument("--collect", metavar="FOLDER", help="copy the runs' kept files into FOLDER")
  ap.add_argument("--from", dest="source", metavar="DIR", help="with --collect: the workdirs")
  args = ap.parse_args(argv)
  if args.readme:
    print(readme_table(), end="")
    return 0
  if args.collect:
    if not args.source:
      print("error: --collect needs --from=DIR (the folder of the runs' workdirs)", file=sys.stderr)
      return 1
    for path in collect(args.collect.rstrip("/"), args.source):
      print(f"copied {path}")
  if args.check:
    bad = stale()
    if bad:
      print(
        f"error: stale evidence tables in {', '.join(bad)}: run python scripts/evidence_table.py",
        file=sys.stderr,
      )
      return 1
    return 0
  for path, blocks in targets().items():
    text = render(path, blocks)
    with open(path) as f:
      if f.read() == text:
        continue
    with open(path, "w") as f:
      f.write(text)
    print(f"wrote {os.path.relpath(path, ROOT)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
