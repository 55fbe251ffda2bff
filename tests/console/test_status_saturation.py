"""Saturation figures in `vinconsole status` read from the emulator with the real clients (issue 14)."""

from __future__ import annotations


def test_status_prices_min_instances_kept_idle(repo_config, emulator, clients_for, manual_clock):
    from console.status import StatusReader

    emu = emulator()
    svc = emu.fleet.find("vinsight-staging", "us-central1", "vinsight-backend")
    stable = next(name for name, pct in svc.served_percents().items() if pct == 100)
    with emu.fleet.lock:
        svc.revisions[stable].min_instances = 1
    status = StatusReader(repo_config, clients_for(emu), manual_clock).read(repo_config.targets("staging",
                                                                                                 "vinsight-backend"))
    row = status.services[0].revision(stable)
    assert row.min_instances == 1 and row.max_instances == 100
    # 1 vCPU × $0.000018 + 0.5 GiB × $0.000002, per second, for an hour
    assert abs(row.min_instances_idle_cost_per_hour - 3600 * (0.000018 + 0.5 * 0.000002)) < 1e-9
    others = [r for r in status.services[0].revisions if r.name != stable]
    assert all(r.min_instances == 0 and r.min_instances_idle_cost_per_hour is None for r in others)
