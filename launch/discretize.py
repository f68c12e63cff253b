"""Discretize: final alphas of a finished search -> SEARCH_DIR/genotype.json (+ diagram).

python launch/discretize.py --workdir=SEARCH_DIR [--k=2]
"""

from absl import flags

from darts_rl import cli, phases
from darts_rl.analysis.diagram import draw_genotype

flags.DEFINE_string("workdir", None, "Workdir of a finished search.")
flags.DEFINE_integer(
  "k", None, "Edges kept per node (default: the search config's arch.discretize_k)."
)
flags.mark_flags_as_required(["workdir"])


@cli.guarded
def main():
  phases.discretize(flags.FLAGS.workdir, flags.FLAGS.k, draw=draw_genotype)


if __name__ == "__main__":
  cli.run(main)
