"""The one owner of every workdir file (WORKSPACE.md): its name, its writer and its reader.

    config.json, DONE      ownership.py claim, load_config, read_config, phase, mark_done, is_done,
                                        config_differences (what two configs set differently)
    metrics.jsonl, tb/     metrics.py   MetricsWriter, read_metrics, training_compute,
    wandb/                              wandb_settings (loop.wandb: a Weights & Biases run)
    alphas.npz             alphas.py    AlphasWriter, read_alphas, final_alphas, alphas_at
    genotype.json / .png   genotype.py  load_genotype, encoder_genotype (a fixed encoder's),
                                        write_genotype, genotype(_png)_path,
                                        transfer_note (where the cell was searched)
    eval.json, eval_N.json evals.py     write_eval, read_eval, best_eval, fresh_eval
      eval_N_offsetK.json
    trials.jsonl, trials/  trials.py    write_trials, read_trials, trial_dir, finished_trials
    seeds.jsonl, seed_S/   trials.py    write_seeds, read_seeds, seed_dir, finished_seeds
    index rows             rows.py      run_row, running_best, selection_split
    logs/*.log             files.py     open_log, last_line
    report/report.md       files.py     write_report_md
    studies/, reports/     studies.py   a study's record, status view, step dirs, cells, report
                                        (record_path, step_dir, cell_path, read_records, ...)
    any file               files.py     atomic_write(_json), read_json, ArtifactError

Every file is written atomically (temp file, then rename); every bad file is an ArtifactError
(a ValueError: launchers print it as one `error: ...` line). checkpoints/ is
darts_rl.train.checkpoint's.
"""

from darts_rl.artifacts.alphas import (
  ALPHAS,
  AlphaSnapshots,
  AlphasWriter,
  alphas_at,
  final_alphas,
  flatten_alphas,
  micro_leaf,
  read_alphas,
  snapshot_index,
)
from darts_rl.artifacts.evals import (
  EVAL,
  FRESH_EVAL,
  FRESH_SEED_OFFSET,
  REEVAL,
  SPLIT_KEYS,
  SPLITS,
  TEST,
  VALIDATION,
  best_eval,
  eval_path,
  fresh_eval,
  is_reeval_file,
  read_eval,
  write_eval,
)
from darts_rl.artifacts.files import (
  REPORT_MD,
  ArtifactError,
  atomic_write,
  atomic_write_json,
  last_line,
  open_log,
  read_json,
  to_json,
  write_report_md,
)
from darts_rl.artifacts.genotype import (
  GENOTYPE,
  GENOTYPE_PNG,
  encoder_genotype,
  genotype_path,
  genotype_png_path,
  load_genotype,
  read_genotype_json,
  searched_on,
  transfer_note,
  write_genotype,
)
from darts_rl.artifacts.metrics import (
  METRICS,
  MetricsWriter,
  read_metrics,
  training_compute,
  wandb_settings,
)
from darts_rl.artifacts.ownership import (
  CONFIG,
  DONE,
  claim,
  config_differences,
  config_to_dict,
  is_done,
  load_config,
  mark_done,
  phase,
  read_config,
  require_done,
  upgrade_config,
)
from darts_rl.artifacts.rows import (
  RANDOM_POLICY,
  reported_return,
  run_row,
  running_best,
  selection_split,
  split_return,
)
from darts_rl.artifacts.studies import (
  FINAL,
  cell_path,
  random_dir,
  read_records,
  record_path,
  report_dir,
  report_path,
  retrain_step,
  status_path,
  step_dir,
  write_record,
)
from darts_rl.artifacts.trials import (
  SEEDS,
  TRIALS,
  finished_seeds,
  finished_trials,
  read_seeds,
  read_trials,
  seed_dir,
  seed_log,
  seeds_phase,
  seeds_run_phase,
  trial_dir,
  trial_log,
  write_seeds,
  write_trials,
)
