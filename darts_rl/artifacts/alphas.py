"""alphas.npz: the history of a search's architecture weights (search only).

    env_steps [S], op_names [K], temperature (scalar), and one array per alphas leaf:
    '<cell>/node<i>' [S, 1 + i, K] raw alphas for the micro space ('/'-joined pytree paths,
    tuple positions as node<i>); 'downsample', 'blocks', 'width' [S, ...] for the macro space.

Mixing weights are softmax(alpha / temperature) over the last axis.
"""

import io
import os
import re
import zipfile
from typing import Dict, NamedTuple, Optional, Tuple

import jax
import numpy as np

from darts_rl.artifacts.files import ArtifactError, atomic_write, missing
from darts_rl.search.alphas import OPTION_KEYS as _OPTION_ENTRIES

ALPHAS = "alphas.npz"
_META = ("env_steps", "op_names", "temperature")
_MICRO_LEAF = re.compile(r"^(?P<cell>.+)/node(?P<node>\d+)$")


class AlphaSnapshots(NamedTuple):
  """The content of alphas.npz. leaves: name -> [S, ...], in the writer's order."""

  env_steps: np.ndarray  # [S] int
  op_names: Tuple[str, ...]  # [K]; empty for spaces without one op list (macro)
  temperature: float
  leaves: Dict[str, np.ndarray]


def flatten_alphas(alphas) -> Dict[str, np.ndarray]:
  """An alphas pytree -> {leaf name: array}: 'normal/node0' [1, K], ... for micro alphas."""
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(alphas))[0]:
    parts = []
    for p in path:
      if isinstance(p, jax.tree_util.SequenceKey):
        parts.append(f"node{p.idx}")
      else:
        parts.append(str(getattr(p, "key", getattr(p, "name", p))))
    flat["/".join(parts)] = np.asarray(leaf)
  return flat


def micro_leaf(name: str) -> Optional[Tuple[str, int]]:
  """(cell type, node index) of a micro leaf name '<cell>/node<i>', else None."""
  m = _MICRO_LEAF.match(name)
  return (m["cell"], int(m["node"])) if m else None


class AlphasWriter:
  """Appends a snapshot to WORKDIR/alphas.npz per `add` (the whole file rewritten atomically).

  resume_env_steps: snapshots already in the file with env_steps <= it are kept, the rest
  dropped; None starts empty. Only process 0 writes.
  """

  def __init__(self, workdir: str, op_names, temperature: float, resume_env_steps: Optional[int]):
    self.path = os.path.join(workdir, ALPHAS)
    self.op_names = np.asarray(list(op_names) if op_names is not None else [])
    self.temperature = temperature
    self.steps, self.snaps = [], []
    if resume_env_steps is not None and os.path.exists(self.path):
      old = read_alphas(workdir)
      keep = np.flatnonzero(old.env_steps <= resume_env_steps)
      self.steps = list(old.env_steps[keep])
      self.snaps = [{k: a[i] for k, a in old.leaves.items()} for i in keep]

  def add(self, env_steps: int, alphas):
    flat = flatten_alphas(alphas)
    if not flat:
      return
    self.steps.append(int(env_steps))
    self.snaps.append(flat)
    if jax.process_index() != 0:
      return
    arrays = {k: np.stack([s[k] for s in self.snaps]) for k in self.snaps[0]}
    buf = io.BytesIO()
    np.savez(
      buf,
      env_steps=np.asarray(self.steps, np.int64),
      op_names=self.op_names,
      temperature=np.float32(self.temperature),
      **arrays,
    )
    atomic_write(self.path, buf.getvalue(), "wb")


def read_alphas(workdir: str) -> AlphaSnapshots:
  """WORKDIR/alphas.npz; ArtifactError if absent, unreadable, without a snapshot, or with a
  leaf that is not [S, ..., K]. op_names and temperature default to () and 1.0."""
  path = os.path.join(workdir, ALPHAS)
  if not os.path.isfile(path):
    raise missing(workdir, ALPHAS, "is it a search workdir?")
  try:
    with np.load(path, allow_pickle=False) as z:
      data = {k: z[k] for k in z.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ArtifactError(f"{path}: cannot read alphas history: {e}") from None
  if "env_steps" not in data:
    raise ArtifactError(f"{path}: alphas history lacks 'env_steps'")
  steps = np.asarray(data["env_steps"]).reshape(-1)
  leaves = {k: np.asarray(a) for k, a in data.items() if k not in _META}
  if not leaves or not steps.size:
    raise ArtifactError(f"{path} holds no alphas snapshot")
  for k, a in leaves.items():
    # Op mixes are [S, ..., K]; the robustness options' entries may be [S, ...] (a scheduled
    # value per snapshot: [S]; learned edge logits: [S, 1 + i]).
    low = 1 if k.split("/")[0] in _OPTION_ENTRIES else 2
    if a.ndim < low or a.shape[0] != steps.shape[0]:
      raise ArtifactError(
        f"{path}: alphas '{k}' has shape {a.shape}; expected [S={steps.shape[0]}, ..., K]"
      )
  op_names = tuple(str(o) for o in np.asarray(data.get("op_names", [])).reshape(-1))
  temperature = float(np.asarray(data["temperature"])) if "temperature" in data else 1.0
  return AlphaSnapshots(steps, op_names, temperature, leaves)


def final_alphas(workdir: str, template):
  """The last snapshot of WORKDIR/alphas.npz as a pytree shaped like `template` (e.g. the
  space's init_alphas()); ArtifactError if the file lacks one of its leaves."""
  return alphas_at(workdir, template)[1]


def snapshot_index(env_steps: np.ndarray, fraction: float) -> int:
  """Index of the last snapshot taken at or before fraction x the last one's env steps (the
  first snapshot if none is)."""
  # A small tolerance: fractions like 1/3 of an integer step count.
  at = np.flatnonzero(env_steps <= fraction * env_steps[-1] + 1e-6)
  return int(at[-1]) if at.size else 0


def alphas_at(workdir: str, template, fraction: float = 1.0) -> Tuple[int, object]:
  """(env_steps, alphas) of the snapshot at `fraction` of the search: the last one taken at
  or before fraction x the last snapshot's env steps (the first one if none is), as a pytree
  shaped like `template`; ArtifactError if the file lacks one of its leaves."""
  snaps = read_alphas(workdir)
  names = list(flatten_alphas(template))
  lacking = [n for n in names if n not in snaps.leaves]
  if lacking:
    raise ArtifactError(
      f"{os.path.join(workdir, ALPHAS)} lacks {lacking[:3]}: it does not match the config"
    )
  i = snapshot_index(snaps.env_steps, fraction)
  treedef = jax.tree_util.tree_structure(template)
  return int(snaps.env_steps[i]), jax.tree_util.tree_unflatten(
    treedef, [snaps.leaves[n][i] for n in names]
  )
