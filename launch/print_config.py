"""Print a resolved config, overrides applied, without running anything.

  python launch/print_config.py --config=experiments/ppo_procgen.py:search,demo \
      [--config.arch.mode=alternating ...] [--format=json]
`flat` (default): one `dotted.key = value` line per field, values as JSON; `json`: the nested
config, as a phase writes it to WORKDIR/config.json (without "phase").
"""

import json

from absl import flags

from darts_rl import cli, config_args

cli.define_config_flag()
flags.DEFINE_enum("format", "flat", ["flat", "json"], "flat: dotted.key = value lines; json.")
flags.mark_flags_as_required(["config"])


@cli.guarded
def main():
  f = flags.FLAGS
  if f.format == "json":
    print(f.config.to_json_best_effort(indent=1, sort_keys=True))
  else:
    for key, parent, name in config_args.leaves(f.config):
      print(f"{key} = {json.dumps(parent[name])}")


if __name__ == "__main__":
  cli.run(main)
