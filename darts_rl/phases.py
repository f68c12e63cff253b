"""Phases that are not training loops: discretize (alphas -> genotype)."""
import os
from typing import Optional

import jax
import numpy as np

from darts_rl import workdir as workdir_lib
from darts_rl.metrics import AlphasHistory
from darts_rl.networks import make_encoder
from darts_rl.search.diagram import draw_genotype


def final_alphas(workdir: str, space):
  """The last snapshot in WORKDIR/alphas.npz as an alphas pytree shaped like space's."""
  path = os.path.join(workdir, "alphas.npz")
  if not os.path.exists(path):
    raise workdir_lib.WorkdirError(f"{workdir} has no alphas.npz (is it a search workdir?)")
  template = space.init_alphas()
  names = list(AlphasHistory.flatten(template))
  with np.load(path) as d:
    missing = [n for n in names if n not in d.files]
    if missing:
      raise workdir_lib.WorkdirError(f"{path} lacks {missing[:3]}: it does not match the config")
    leaves = [d[n][-1] for n in names]
  treedef = jax.tree_util.tree_structure(template)
  return jax.tree_util.tree_unflatten(treedef, leaves)


def discretize(workdir: str, k: Optional[int] = None):
  """Writes WORKDIR/genotype.json (and genotype.png) from a finished search's final alphas."""
  config = workdir_lib.load_config(workdir)
  phase = workdir_lib.read_json(os.path.join(workdir, "config.json")).get("phase")
  if phase != "search":
    raise workdir_lib.WorkdirError(f"{workdir} belongs to phase '{phase}', not a search")
  if not os.path.exists(os.path.join(workdir, workdir_lib.DONE)):
    raise workdir_lib.WorkdirError(f"the search in {workdir} has not finished: rerun "
                                   "launch/search.py with the same flags to complete it")
  out = os.path.join(workdir, "genotype.json")
  if os.path.exists(out):
    print(f"[discretize] {out} already exists; nothing to do.", flush=True)
    return
  space = make_encoder(config.encoder, arch=config.arch).space
  k = config.arch.discretize_k if k is None else k
  genotype = space.discretize(final_alphas(workdir, space), k, config.encoder.temperature)
  draw_genotype(genotype, os.path.join(workdir, "genotype.png"))
  workdir_lib.atomic_write(out, genotype.to_json() + "\n")
  print(genotype.describe())
  print(f"[discretize] wrote {out}", flush=True)
  return genotype
