"""Trials on an executor: device slots, the local pool, Ray, random search on both, and a
study on Ray."""

import json
import os

import pytest

from darts_rl import artifacts, processes, random_search
from darts_rl.analysis.studies import write_report
from darts_rl.envs import procgen_threads
from darts_rl.studies import runner
from darts_rl.sweep import Job, LocalPool, TrialFailed, make_executor, slots
from darts_rl.sweep.ray_run import RayExecutor, check_fits
from experiments.ppo_procgen import get_config

FAKE = "tests.fake_training"


# --- Which devices and cores each worker gets -------------------------------------------------


def test_gpu_slots_are_disjoint_and_do_not_preallocate():
  s = slots.plan(2, 0, ["0", "1", "2", "3"], range(8))
  assert [x.env["CUDA_VISIBLE_DEVICES"] for x in s] == ["0,1", "2,3"]
  assert all(x.env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for x in s)
  assert [x.cores for x in s] == [(0, 1, 2, 3), (4, 5, 6, 7)]
  s = slots.plan(3, 1, ["4", "6", "7"], [0, 1])  # fewer cores than workers: they share
  assert [x.env["CUDA_VISIBLE_DEVICES"] for x in s] == ["4", "6", "7"]
  assert [x.cores for x in s] == [None] * 3
  with pytest.raises(
    ValueError,
    match=r"--parallel=2 trials x 2 GPU\(s\) each need 4 GPUs; "
    r"this machine shows 3",
  ):
    slots.plan(2, 2, ["0", "1", "2"], range(8))
  with pytest.raises(ValueError, match="need 3 GPUs; this machine shows 2"):
    slots.plan(3, 0, ["0", "1"], range(8))


def test_cpu_slots_pin_cores_and_force_devices():
  s = slots.plan(2, 0, [], [0, 1, 2, 3, 4])
  assert [x.cores for x in s] == [(0, 1), (2, 3)] and all(x.env == {} for x in s)
  assert s[0].label == "cores 0-1"
  s = slots.plan(2, 2, [], [0])
  assert [x.cores for x in s] == [None, None]
  assert all("--xla_force_host_platform_device_count=2" in x.env["XLA_FLAGS"] for x in s)
  assert s[0].env["JAX_PLATFORMS"] == "cpu"


def test_visible_gpus_reads_the_environment(monkeypatch):
  monkeypatch.setenv("JAX_PLATFORMS", "cuda")
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
  assert slots.visible_gpus() == ["2", "5"]
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
  assert slots.visible_gpus() == []
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
  assert slots.visible_gpus() == []


# --- The local pool ---------------------------------------------------------------------------


def _jobs(tmp_path, names):
  return [
    Job(
      f"job {n}",
      f"{FAKE}:write_marker",
      [str(tmp_path / f"{n}.txt"), n],
      str(tmp_path / "logs" / f"{n}.log"),
    )
    for n in names
  ]


def test_local_pool_runs_jobs_in_pinned_workers(tmp_path):
  done = []
  pool = LocalPool(parallel=2, devices_per_trial=0, gpus=[], cores=[0, 1])
  pool.run(_jobs(tmp_path, ["a", "b", "c"]), on_done=lambda job: done.append(job.args[1]))
  assert sorted(done) == ["a", "b", "c"]
  cores = set()
  for n in "abc":
    assert (tmp_path / f"{n}.txt").read_text() == f"{n}\n"
    log = (tmp_path / "logs" / f"{n}.log").read_text()
    assert f"job {n} in pid" in log and f"pid {os.getpid()} " not in log
    cores.add(log.split("on cores ")[1].strip())
  assert cores == {"[0]", "[1]"}  # each worker on its own core; a freed slot is reused


def test_a_failed_job_is_one_line_naming_it_and_its_log(tmp_path):
  pool = LocalPool(parallel=1, devices_per_trial=1, gpus=[], cores=[0])  # one worker process
  done = []
  with pytest.raises(TrialFailed) as e:
    pool.run(_jobs(tmp_path, ["a", "fail1", "b"]), on_done=lambda job: done.append(job.name))
  log = tmp_path / "logs" / "fail1.log"
  assert str(e.value) == (
    f"1 job(s) failed: job fail1 (exit 1: error: job fail1 failed as "
    f"told; log: {log}). Rerun the same command to retry them (finished "
    "ones are kept)"
  )
  assert done == ["job a"] and not (tmp_path / "b.txt").exists()  # nothing new after a failure


def test_in_process_pool_and_bad_choices(tmp_path):
  pool = make_executor(parallel=1)
  assert pool.in_process
  done = []
  pool.run(_jobs(tmp_path, ["a"]), on_done=lambda job: done.append(job.name))
  assert done == ["job a"] and not (tmp_path / "logs").exists()
  with pytest.raises(ValueError, match="unknown executor 'slurm'; valid: local, ray"):
    make_executor(executor="slurm")
  with pytest.raises(ValueError, match="--parallel must be >= 1"):
    make_executor(parallel=0)


# --- Random search on an executor, with a fake trainer ------------------------------------


def _config():
  c = get_config("search,smoke")
  c.encoder.channels = (4,)
  return c


def _random_search(workdir, executor, num_trials=4):
  return random_search.run(_config(), str(workdir), num_trials, executor, training=FAKE)


def _comparable(rows):
  return [{k: v for k, v in r.items()} for r in rows]


def test_random_search_selects_on_validation_and_evaluates_the_picks_afresh(tmp_path, capsys):
  rows = _random_search(tmp_path / "rs", LocalPool())
  assert [r["trial"] for r in rows] == [0, 1, 2, 3]
  assert [r["validation_levels"]["mean_return"] for r in rows] == [1.0, 3.0, 2.0, 5.0]
  # Best so far on validation: trials 0, 1, 3; each has a fresh evaluation, trial 2 none.
  assert random_search.selected_trials(rows) == [0, 1, 3]
  assert [r.get("fresh", {}).get("test_levels", {}).get("mean_return") for r in rows] == [
    3.5,
    1.5,
    None,
    2.5,
  ]
  assert rows[3]["fresh"]["file"] == "eval_4_offset1.json"
  out = capsys.readouterr().out
  assert (
    "selected trial 3 on validation levels (5); its fresh evaluation on test levels: 2.5" in out
  )
  # Extending the search runs only the new trial; no pick changes, so no new fresh evaluation.
  rows = _random_search(tmp_path / "rs", LocalPool(), num_trials=5)
  assert "fresh" not in rows[4] and "4 of 5 trials finished, 1 to run" in capsys.readouterr().out


def test_trials_in_worker_processes_and_their_failures(tmp_path, monkeypatch):
  w = tmp_path / "rs"
  monkeypatch.setenv("FAKE_TRAINING_FAIL", "trial_002")
  with pytest.raises(
    TrialFailed,
    match=r"1 job\(s\) failed: trial 2 \(exit 1: error: .*"
    r"trial_002: told to fail; log: .*trial_002.log\)",
  ):
    _random_search(w, LocalPool(parallel=2, gpus=[], cores=[0, 1]))
  assert 2 not in artifacts.finished_trials(str(w))
  monkeypatch.delenv("FAKE_TRAINING_FAIL")
  rows = _random_search(w, LocalPool(parallel=2, gpus=[], cores=[0, 1]))  # retries trial 2
  assert [r["trial"] for r in rows] == [0, 1, 2, 3]
  assert _comparable(rows) == _comparable(_random_search(tmp_path / "in_process", LocalPool()))


@pytest.fixture(scope="module")
def local_ray(monkeypatch_module):
  ray = pytest.importorskip("ray")
  # As RayExecutor does for a local instance: workers at nice 0, not Ray's 15 (a niced worker
  # crawls next to the other pytest worker).
  monkeypatch_module.setenv("RAY_worker_niceness", "0")
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
  yield ray
  ray.shutdown()


@pytest.fixture(scope="module")
def monkeypatch_module():
  with pytest.MonkeyPatch.context() as mp:
    yield mp


@pytest.mark.heavy
def test_trials_on_local_ray_match_the_local_pool(tmp_path, local_ray):
  executor = make_executor(parallel=2, executor="ray")
  assert executor.num_gpus == 0 and executor.num_cpus == 1
  # Two trials each way (both selected in turn, so both get a fresh evaluation): the rows,
  # fresh evaluations included, are the same; selection itself is tested above, and the pool's
  # worker processes against this process there.
  on_ray = _random_search(tmp_path / "ray", executor, num_trials=2)
  pooled = _random_search(tmp_path / "pool", LocalPool(), num_trials=2)
  assert _comparable(on_ray) == _comparable(pooled)
  assert all("fresh" in r for r in on_ray)
  assert os.path.exists(artifacts.trial_log(str(tmp_path / "ray"), 1))
  with open(os.path.join(tmp_path / "ray", artifacts.TRIALS)) as f:
    assert [json.loads(line)["trial"] for line in f] == [0, 1]
  # A failed task on Ray: the same one line as the local pool's.
  with pytest.raises(TrialFailed, match=r"job fail2 \(exit 1: error: job fail2 failed as told"):
    executor.run(_jobs(tmp_path, ["fail2"]), on_done=lambda job: None)
  with pytest.raises(ValueError, match=r"asks for 0 GPU\(s\) and 64 CPU\(s\) on one node"):
    make_executor(executor="ray", cpus_per_trial=64)
  assert executor.env[processes.CPUS_ENV] == "1"


# search -> cell -> retrain for one seed (a stand-in for training): two jobs on Ray, the cell
# in the driver.
RAY_STUDY = """
from darts_rl import studies

def get_study(arg=None):
  size, _ = studies.parse_variant(arg)
  return studies.Study(
    name="tiny", size=size, description="a tiny study", env_field="env.games",
    envs=studies.games("starpilot"), seeds=(0,),
    methods=(studies.darts("darts", "experiments/ppo_procgen.py"),),
    reports=("per_game", "trajectory", "efficiency"),
  )
"""


@pytest.mark.heavy
def test_a_smoke_study_on_local_ray(tmp_path, local_ray):
  path = tmp_path / "tiny.py"
  path.write_text(RAY_STUDY)
  w = tmp_path / "w"
  report = runner.run(f"{path}:smoke", str(w), write_report, RayExecutor("local", 2), training=FAKE)
  assert os.path.isfile(report) and "## Per game" in open(report).read()
  log = artifacts.seed_log(str(w / "darts" / "starpilot" / "search"), 0)
  assert os.path.isfile(log)  # a Ray task ran the job in a worker process


def test_a_ray_trial_must_fit_one_node_not_the_cluster_totals(monkeypatch):
  nodes = [{"GPU": 1.0, "CPU": 8.0}, {"GPU": 1.0, "CPU": 8.0}]
  check_fits(nodes, 1, 8)
  with pytest.raises(ValueError, match=r"asks for 2 GPU\(s\) and 8 CPU\(s\) on one node"):
    check_fits(nodes, 2, 8)  # the cluster has 2 GPUs, but no node has
  with pytest.raises(ValueError, match="no live node"):
    check_fits([], 0, 1)
  # The trial's CPU count caps the cores its envs size their threads to.
  monkeypatch.setenv(processes.CPUS_ENV, "1")
  assert processes.usable_core_count() == 1
  assert procgen_threads(0, 1) == 1
  monkeypatch.delenv(processes.CPUS_ENV)
  assert processes.usable_core_count() == len(os.sched_getaffinity(0))
