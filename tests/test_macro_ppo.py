"""The macro space through the PPO phases: search -> discretize -> evaluate on smoke."""

import json

import pytest

from darts_rl import phases
from darts_rl.train import loop
from experiments.ppo_procgen_macro import get_config


@pytest.mark.heavy
def test_macro_search_discretize_evaluate(tmp_path):
  s = tmp_path / "search"
  loop.run(get_config("search,smoke"), str(s), "search")
  phases.discretize(str(s))
  g = json.loads((s / "genotype.json").read_text())
  assert g["format"] == "darts_rl.macro_genotype/1" and len(g["stages"]) == 1  # smoke: 1 stage
  c = get_config("evaluate,smoke")
  c.encoder.genotype = str(s / "genotype.json")
  out = loop.run(c, str(tmp_path / "eval"), "evaluate")
  assert out["encoder"] == "fixed" and out["env_steps"] == c.loop.total_env_steps
