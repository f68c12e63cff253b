"""Phases that are not training loops: discretize (alphas -> genotype)."""

import os
from typing import Callable, Optional

from darts_rl import artifacts
from darts_rl.networks import make_encoder


def discretize(
  workdir: str, k: Optional[int] = None, draw: Optional[Callable[[object, str], object]] = None
):
  """Writes WORKDIR/genotype.json from a finished search's final alphas; returns the genotype
  (None when genotype.json already exists: nothing is done).

  draw(genotype, path): draws WORKDIR/genotype.png first, so a failed drawing leaves no
  genotype.json and the rerun draws again (launch/discretize.py passes the analysis diagram;
  training code never imports plotting).
  """
  config = artifacts.load_config(workdir, want_phase="search")
  artifacts.require_done(
    workdir, "a finished search", "rerun launch/search.py with the same flags to complete it"
  )
  out = artifacts.genotype_path(workdir)
  if os.path.exists(out):
    print(f"[discretize] {out} already exists; nothing to do.", flush=True)
    return None
  space = make_encoder(config.encoder, arch=config.arch).space
  k = config.arch.discretize_k if k is None else k
  alphas = artifacts.final_alphas(workdir, space.init_alphas())
  genotype = space.discretize(alphas, k, config.encoder.temperature)
  if draw is not None:
    draw(genotype, artifacts.genotype_png_path(workdir))
  artifacts.write_genotype(out, genotype, env=config.env)
  print(genotype.describe())
  print(f"[discretize] wrote {out}", flush=True)
  return genotype
