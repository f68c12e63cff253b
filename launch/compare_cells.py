"""How alike finished searches' outcomes are (e.g. PC-DARTS vs exact DARTS, or two seeds).

  python launch/compare_cells.py --workdirs=SEARCH_A,SEARCH_B[,...] [--names=exact,pc4] \
      [--out=FILE.md]
Prints a markdown table (darts_rl/analysis/similarity.py): per search how far its mixing weights
moved and its best op per edge; per pair the fraction of edges with the same best op, the
Spearman correlation of the weights and the overlap of the discretized cells. Reads each
workdir's alphas.npz and genotype.json (run launch/discretize.py first for the overlap).
"""

from absl import flags

from darts_rl import artifacts, cli
from darts_rl.analysis import similarity

flags.DEFINE_list("workdirs", [], "Finished search workdirs (two or more), same search space.")
flags.DEFINE_list("names", [], "Names for the table, one per workdir (default: directory names).")
flags.DEFINE_string("out", "", "Also write the table to this markdown file (atomically).")


@cli.guarded
def main():
  f = flags.FLAGS
  if f.names and len(f.names) != len(f.workdirs):
    raise ValueError(f"--names has {len(f.names)} entries for {len(f.workdirs)} workdirs")
  names = f.names or [None] * len(f.workdirs)
  outcomes = [similarity.SearchOutcome.load(w, n) for w, n in zip(f.workdirs, names)]
  text = similarity.table(outcomes)
  print(text, end="", flush=True)
  if f.out:
    artifacts.atomic_write(f.out, text)
    print(f"[compare_cells] wrote {f.out}", flush=True)


if __name__ == "__main__":
  cli.run(main)
