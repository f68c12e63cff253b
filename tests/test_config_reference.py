"""docs/config_reference.md: generated from the configs, current, every field explained by its own
comment; print_config --explain prints one field's entry."""

import collections
import importlib.util
import os

import pytest

from darts_rl import config_reference
from tests.launch_process import run_launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def gen():
  spec = importlib.util.spec_from_file_location(
    "gen_config_reference", os.path.join(ROOT, "scripts", "gen_config_reference.py")
  )
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_committed_reference_is_current(gen):
  with open(os.path.join(ROOT, gen.OUT)) as f:
    assert f.read() == gen.render(), (
      f"{gen.OUT} is stale: run python scripts/gen_config_reference.py"
    )


def test_every_field_has_a_comment(gen):
  missing = gen.fields_without_meaning()
  assert not missing, "fields without a comment where they are set:\n" + "\n".join(missing)


def test_each_field_has_its_own_meaning(gen):
  """A comment says what one field is: two fields set on different lines never share it (the
  same block reused, e.g. SAC's three optimizers, is one line and one meaning)."""
  shared = []
  for path in gen.experiment_files():
    sites = collections.defaultdict(set)
    for field in gen.experiment_fields(path):
      sites[field.meaning].add(field.site)
    shared += [f"{path}: {m!r} at {sorted(s)}" for m, s in sites.items() if len(s) > 1]
  assert not shared, "one comment for several fields:\n" + "\n".join(shared)


def test_explain_prints_meaning_default_and_variants():
  out = run_launcher(
    "print_config",
    "--config=experiments/ppo_procgen.py:search,smoke",
    "--config.encoder.feature_dim=64",
    "--explain=encoder.feature_dim",
  )
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  assert lines[0] == "encoder.feature_dim (int)"
  assert lines[1] == (
    "  meaning:    Width of the feature head's Dense layer: the features the agent's heads read."
  )
  assert lines[2].split()[:2] == ["default:", "256"]
  assert lines[3] == ("  changed by: smoke: `32`; demo / search,cpu / evaluate,cpu: `128`")
  assert lines[4].split()[:2] == ["here:", "64"]
  bad = run_launcher(
    "print_config", "--config=experiments/ppo_procgen.py", "--explain=encoder.feature_dims"
  )
  assert bad.returncode == 1 and bad.stdout == ""
  assert bad.stderr.startswith("error: unknown config key 'encoder.feature_dims'")
  assert len(bad.stderr.splitlines()) == 1


def test_check_flag(gen, tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(gen, "OUT", str(tmp_path / "docs" / "reference.md"))
  assert gen.main(["--check"]) == 1  # missing counts as stale
  assert capsys.readouterr().err == (
    f"error: {gen.OUT} is stale: run python scripts/gen_config_reference.py\n"
  )
  assert gen.main([]) == 0 and gen.main(["--check"]) == 0
  assert gen.main(["--chek"]) == 1
  assert capsys.readouterr().err.startswith("error: unexpected arguments --chek")


SOURCE = """\
import ml_collections


def block():
  c = ml_collections.ConfigDict()
  # Alpha.
  c.alpha = 1
  c.beta = 2

  c.gamma = 3  # gamma, at the end of its line
  c.delta = 4
  # Epsilon.
  c.epsilon = 5
  c.update(zeta=6)
  return c


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  # The block: not its fields' meaning.
  c.block = block()
  c.block.delta = 7  # a variant's why, not delta's meaning
  return c
"""


def test_meaning_is_the_comment_where_a_field_is_first_set(gen, tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text(SOURCE)
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  with config_reference.FieldSites(source_dirs=(str(tmp_path),)) as sites:
    config = module.get_config()
  comments = config_reference.SourceComments(str(path))
  meaning = {}
  for name in config.block.keys():
    file, line = sites.first(config.block, name)
    assert file == os.path.realpath(path)
    meaning[name] = comments.meaning(line)
  assert meaning == {
    "alpha": "Alpha.",
    "beta": "",  # a comment is one field's: alpha's says nothing of beta
    "gamma": "gamma, at the end of its line",  # a blank line ends the run above
    "delta": "",  # no comment of its own where it is created
    "epsilon": "Epsilon.",
    "zeta": "",  # set inside a call: no comment of its own
  }


def test_changed_by_names_the_fewest_variant_patterns(gen):
  path = "experiments/rainbow_procgen.py"
  field = config_reference.Field("x")
  for phase, size, multi in config_reference.variants(path):
    field.values[(phase, size, multi)] = (
      0
      if size == "full"
      else 1
      if phase == "baseline" and size == "smoke"
      else 2
      if size == "smoke"
      else 3
      if multi
      else 4
    )
  assert config_reference.changed_by(field, path) == (  # groups in the order of their first variant
    "search,smoke / evaluate,smoke: `2`; demo,multi / cpu,multi: `3`; "
    "demo without multi / cpu without multi: `4`; baseline,smoke: `1`"
  )
