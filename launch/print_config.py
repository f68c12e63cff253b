"""Print a resolved config, overrides applied, without running anything; or what one field means.

  python launch/print_config.py --config=experiments/ppo_procgen.py:search,demo \
      [--config.arch.mode=alternating ...] [--format=json]
  python launch/print_config.py --config=experiments/ppo_procgen.py --explain=arch.mode
`flat` (default): one `dotted.key = value` line per field, values as JSON; `json`: the nested
config, as a phase writes it to WORKDIR/config.json (without "phase"). `--explain=KEY`: the
field's meaning, default, the variants that change it and its value in this config.
"""

import json

from absl import flags

from darts_rl import cli, config_reference

cli.define_config_flag()
flags.DEFINE_enum("format", "flat", ["flat", "json"], "flat: dotted.key = value lines; json.")
flags.DEFINE_string("explain", "", "Print what this field (dotted key) means instead.")
flags.mark_flags_as_required(["config"])


@cli.guarded
def main():
  f = flags.FLAGS
  if f.explain:
    print(config_reference.explain(f.config, f["config"].config_filename, f.explain))
  elif f.format == "json":
    print(f.config.to_json_best_effort(indent=1, sort_keys=True))
  else:
    for key, parent, name in cli.leaves(f.config):
      print(f"{key} = {json.dumps(parent[name])}")


if __name__ == "__main__":
  cli.run(main)
