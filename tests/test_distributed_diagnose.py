"""darts_rl.distributed.diagnose: the one clause for a child the runtime stopped, from the
runtime's own lines as jax 0.7 and jax 0.12 print them (excerpts of real logs)."""

from darts_rl import distributed

JAX_07 = """\
2026-12-07 12:57:37.575571: E external/xla/xla/tsl/distributed_runtime/coordination/\
coordination_service.cc:1868] Use error polling to propagate the following error to all tasks: \
UNAVAILABLE: The following tasks are unhealthy (stopped sending heartbeats):
/job:jax_worker/replica:0/task:1
"""

JAX_012 = """\
E1207 13:12:49.902131   25228 coordination_service.cc:1518] [6857780669011616841] Use error \
polling to propagate the following error to all tasks: UNAVAILABLE: The following tasks are \
unhealthy (stopped sending heartbeats):
1
The tasks have crashed. Check the task logs for an earlier error, or scheduler events (e.g. \
preemption, eviction) to debug further. [type.googleapis.com/tensorflow.CoordinationServiceError='']
"""


def test_a_peer_without_heartbeat_is_named_on_both_runtimes():
  for text in (JAX_07, JAX_012):
    clause = distributed.diagnose(text.splitlines(keepends=True), -6)
    assert clause.startswith("process 1 stopped responding (no heartbeat"), clause


def test_several_silent_peers_are_all_named():
  text = JAX_012.replace("heartbeats):\n1\n", "heartbeats):\n1\n3\n")
  clause = distributed.diagnose(text.splitlines(keepends=True), -6)
  assert clause.startswith("process 1, process 3 stopped responding"), clause


def test_a_lost_coordinator_is_not_taken_for_a_silent_peer():
  lines = ["E1207 13:12:49.9 1 client.cc:1] UNAVAILABLE: Socket closed\n"]
  assert distributed.diagnose(lines, -6).startswith("lost the coordinator")
