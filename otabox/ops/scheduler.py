"""The rollout policy scheduler: a thread in `otabox serve` that moves running executions on.

Every `OTABOX_POLICY_INTERVAL` seconds (default 30) the process holding the `policy-scheduler` lease
evaluates every running execution (core/policies.py). Nothing about an execution lives in memory,
so a restarted server, or another process taking the lease over, picks up where it was."""
from __future__ import annotations

import logging

from ..core import policies
from .leased import LeasedLoop

log = logging.getLogger("otabox")


class PolicyScheduler:
    def __init__(self, box):
        self.box = box
        self.loop = LeasedLoop(box.db, "policy-scheduler", box.config.policy_interval, self.run)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def run(self) -> dict[int, str]:
        moved = policies.evaluate_running(unattested_allowance=self.box.config.policy_unattested_devices,
                                          devices_per_network=self.box.config.policy_devices_per_network)
        for execution_id, outcome in moved.items():
            log.info("rollout execution %d: %s", execution_id, outcome)
        self.box.publish_changes()
        return moved
