"""CPU cost of the emulator's request log: entries generated per CPU second, and what a ×60 clock
asks of it (vinconsole-backend in production: 40 req/s → 2,400 entries per real second at ×60).

Run: python -m bench.request_logs [minutes]  (default 30 simulated minutes of the production fleet)
"""

from __future__ import annotations

import sys
import time

from console.clock import ManualClock
from console.config import load_config
from console.emulator import filters
from console.emulator.fleet import Fleet
from console.emulator.logging_api import Generator, _pb_classes, pb_of_record
from console.emulator.traffic import Traffic


def main(minutes: float = 30.0) -> None:
    clock = ManualClock(1_790_000_000.0)
    fleet = Fleet(load_config("config.toml"), "healthy", clock, 0)
    traffic = Traffic(fleet)
    generator = Generator(fleet, traffic)
    start = clock.now()
    clock.advance(minutes * 60)
    LogEntry = _pb_classes()["LogEntry"]
    node = filters.parse_logging('logName = "projects/vinsight-prod/logs/run.googleapis.com%2Frequests" '
                                 'AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "vinsight-backend"')
    svc = fleet.find("vinsight-prod", "us-central1", "vinsight-backend")
    traffic.ticks(svc, start, clock.now())  # the traffic itself is Monitoring's cost, not the log's
    t0 = time.process_time()
    records = generator.records(svc, start, clock.now())
    t1 = time.process_time()
    matched = [r for r in records if filters.matches(node, r)]
    t2 = time.process_time()
    for r in matched:
        pb_of_record(r, LogEntry).SerializeToString()
    t3 = time.process_time()
    n = len(records)
    per = {"generate": (t1 - t0) / n, "filter": (t2 - t1) / n, "to protobuf + serialize": (t3 - t2) / max(1, len(matched))}
    print(f"{n:,} entries of vinsight-backend/production over {minutes:g} simulated minutes "
          f"({n / (minutes * 60):.1f} req/s)")
    for what, seconds in per.items():
        print(f"  {what:<24} {seconds * 1e6:7.1f} µs per entry")
    total = sum(per.values())
    rate = n / (minutes * 60)
    for scale in (1, 60, 200):
        print(f"  at ×{scale:<4} a tail of this service costs the emulator {rate * scale * total * 100:5.1f} % of one core")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
