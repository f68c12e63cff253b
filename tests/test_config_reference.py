"""docs/config_reference.md: generated from the configs, current, every field explained."""

import importlib.util
import os

import pytest

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
  # Alpha and beta.
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
  with gen.FieldSites(source_dirs=(str(tmp_path),)) as sites:
    config = module.get_config()
  comments = gen.SourceComments(str(path))
  meaning = {}
  for name in config.block.keys():
    file, line = sites.first(config.block, name)
    assert file == os.path.realpath(path)
    meaning[name] = comments.meaning(line)
  assert meaning == {
    "alpha": "Alpha and beta.",
    "beta": "Alpha and beta.",  # a run of assignments
    "gamma": "gamma, at the end of its line",  # a blank line ends the run above
    "delta": "",  # no comment of its own where it is created
    "epsilon": "Epsilon.",
    "zeta": "",  # a call is not part of the run of assignments above it
  }


def test_changed_by_names_the_fewest_variant_patterns(gen):
  path = "experiments/rainbow_procgen.py"
  field = gen.Field("x")
  for phase, size, multi in gen.variants(path):
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
  assert gen.changed_by(field, path) == (  # groups in the order of their first variant
    "search,smoke / evaluate,smoke: `2`; demo,multi / cpu,multi: `3`; "
    "demo without multi / cpu without multi: `4`; baseline,smoke: `1`"
  )
