"""The ingest's Prometheus metrics, in the text exposition format (no client library needed)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

# Save latency buckets in seconds: a batched Redis round trip is usually well under 10 ms.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.accepted = 0
        self.duplicates = 0
        self.rejections: Counter[str] = Counter()
        self.latency_counts = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0

    def saved(self, seconds: float, duplicate: bool) -> None:
        self.accepted += 1
        self.duplicates += duplicate
        self.latency_counts[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def rejected(self, reason: str) -> None:
        self.rejections[reason] += 1

    def render(self) -> str:
        lines = [
            "# HELP vigil_ingest_events_accepted_total Events answered 200 (duplicates included).",
            "# TYPE vigil_ingest_events_accepted_total counter",
            f"vigil_ingest_events_accepted_total {self.accepted}",
            "# HELP vigil_ingest_events_duplicate_total Events dropped as seen in the last hour.",
            "# TYPE vigil_ingest_events_duplicate_total counter",
            f"vigil_ingest_events_duplicate_total {self.duplicates}",
            "# HELP vigil_ingest_requests_rejected_total Requests refused, by reason.",
            "# TYPE vigil_ingest_requests_rejected_total counter",
        ]
        lines += [f'vigil_ingest_requests_rejected_total{{reason="{r}"}} {n}' for r, n in sorted(self.rejections.items())]
        lines += [
            "# HELP vigil_ingest_save_seconds Time from handing an event to the store until Redis accepted it.",
            "# TYPE vigil_ingest_save_seconds histogram",
        ]
        running = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.latency_counts):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'vigil_ingest_save_seconds_bucket{{le="{le}"}} {running}')
        lines += [f"vigil_ingest_save_seconds_sum {self.latency_sum}", f"vigil_ingest_save_seconds_count {running}"]
        return "\n".join(lines) + "\n"
