"""bench/reconcile: N AlertRules (two triggers, two actions each, two open incidents each) updated
at once; the time until every snapshot exists, every incident is closed and every status shows
the new generation. Same-run floor: the same API writes done directly with the Python client in
a tight loop. Prints updates/s for both, their ratio, API requests per update and the
operator's peak RSS.

    python bench/reconcile.py --rules 200 [--state-dir .vigil/bench]   (a running `vigil dev up`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes

GROUP, VERSION = "vigil.dev", "v1alpha1"
Body = dict[str, Any]


def rule(name: str, query: str) -> Body:
    def action(i: int, kind: str) -> Body:
        return {"name": f"{kind}-{i}", "type": "email", "targetType": "team", "targetIdentifier": f"{kind}{i}"}

    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertRule", "metadata": {"name": name},
        "spec": {"name": name, "query": query, "aggregate": "count()", "timeWindow": 10, "thresholdType": "above",
                 "triggers": [{"label": "critical", "alertThreshold": 100, "actions": [action(1, "c"), action(2, "c")]},
                              {"label": "warning", "alertThreshold": 50, "actions": [action(1, "w"), action(2, "w")]}]},
    }  # fmt: skip


def incident(name: str, rule_name: str, n: int) -> Body:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Incident",
        "metadata": {"name": name, "labels": {"vigil.dev/alert-rule": rule_name}},
        "spec": {"alertRuleRef": {"kind": "AlertRule", "name": rule_name}, "identifier": n, "title": rule_name,
                 "dateStarted": "2026-12-01T10:00:00Z"},
    }  # fmt: skip


OPEN = {"status": {"status": "Critical", "triggers": [{"label": "critical", "state": "Active"}],
                   "activity": [{"type": "Created", "at": "2026-12-01T10:00:00Z"}]}}  # fmt: skip


class Bench:
    def __init__(self, state: Path, namespace: str, rules: int) -> None:
        self.state, self.ns, self.n = state, namespace, rules
        self.client = kubernetes.config.new_client_from_config(config_file=str(state / "kubeconfig"))
        self.api = kubernetes.client.CustomObjectsApi(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.pool = ThreadPoolExecutor(16)
        self.polls = 0  # our own list requests, not counted against the operator

    def names(self, prefix: str) -> list[str]:
        return [f"{prefix}-{i:04d}" for i in range(self.n)]

    def each(self, fn: Any, items: list[Any]) -> None:
        list(self.pool.map(fn, items))

    def setup(self, prefix: str) -> None:
        """N rules with two open incidents each (the incidents before the rules exist in the
        operator's eyes does not matter: it counts them on create)."""

        def one(name: str) -> None:
            self.api.create_namespaced_custom_object(GROUP, VERSION, self.ns, "alertrules", rule(name, "level:error"))
            for k in (1, 2):
                inc = f"{name}-i{k}"
                self.api.create_namespaced_custom_object(GROUP, VERSION, self.ns, "incidents", incident(inc, name, k))
                self.api.patch_namespaced_custom_object_status(GROUP, VERSION, self.ns, "incidents", inc, OPEN)

        self.each(one, self.names(prefix))

    def update_all(self, prefix: str) -> None:
        patch = {"spec": {"query": "level:fatal"}}
        self.each(lambda n: self.api.patch_namespaced_custom_object(GROUP, VERSION, self.ns, "alertrules", n, patch),
                  self.names(prefix))  # fmt: skip

    def list(self, plural: str) -> list[Body]:
        self.polls += 1
        return self.api.list_namespaced_custom_object(GROUP, VERSION, self.ns, plural)["items"]

    def done(self, prefix: str, generation: int) -> bool:
        rules = [r for r in self.list("alertrules") if r["metadata"]["name"].startswith(prefix + "-")]
        if sum((r.get("status") or {}).get("observedGeneration") == generation for r in rules) < self.n:
            return False
        if generation == 1:
            return True
        snaps = [s for s in self.list("alertrulesnapshots") if s["metadata"]["name"].startswith(prefix + "-")]
        closed = [i for i in self.list("incidents") if i["metadata"]["name"].startswith(prefix + "-")
                  and (i.get("status") or {}).get("status") == "Closed"]  # fmt: skip
        return len(snaps) == self.n and len(closed) == 2 * self.n

    def wait(self, prefix: str, generation: int, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while not self.done(prefix, generation):
            if time.monotonic() > deadline:
                sys.exit(f"bench: not reconciled after {timeout:.0f}s")
            time.sleep(1.0)  # lists of thousands of objects are not free: poll gently

    def floor(self, prefix: str) -> float:
        """The writes the update flow needs, done directly: snapshot, 2 re-points, 2 closes,
        snapshot status, rule status. Seconds for all N."""
        snap_spec = {"alertRule": {"name": "x", "uid": "u", "generation": 1}, "reason": "RuleUpdated",
                     "createdAt": "2026-12-03T00:00:00Z", "rule": rule("x", "")["spec"]}  # fmt: skip
        for t in snap_spec["rule"]["triggers"]:
            t["id"] = "t"
            for a in t["actions"]:
                a["id"] = "a"
        closed = {"status": {"status": "Closed", "statusMethod": "RuleUpdated", "dateClosed": "2026-12-03T00:00:00Z"}}
        started = time.perf_counter()
        for name in self.names(prefix):
            snap = f"{name}-g1"
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertRuleSnapshot",
                    "metadata": {"name": snap}, "spec": snap_spec}  # fmt: skip
            self.api.create_namespaced_custom_object(GROUP, VERSION, self.ns, "alertrulesnapshots", body)
            for k in (1, 2):
                inc = f"{name}-i{k}"
                ref = {"spec": {"alertRuleRef": {"kind": "AlertRuleSnapshot", "name": snap}}}
                self.api.patch_namespaced_custom_object(GROUP, VERSION, self.ns, "incidents", inc, ref)
                self.api.patch_namespaced_custom_object_status(GROUP, VERSION, self.ns, "incidents", inc, closed)
            self.api.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.ns, "alertrulesnapshots", snap, {"status": {"incidentCount": 2}})
            self.api.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.ns, "alertrules", name, {"status": {"observedGeneration": 2}})
        return time.perf_counter() - started

    def request_count(self) -> int:
        """apiserver_request_total over every verb and resource: the API server's own count."""
        config = self.client.configuration
        auth = config.api_key.get("authorization") or config.api_key.get("BearerToken")
        res = self.client.call_api("GET", f"{config.host}/metrics", header_params={"Authorization": auth})
        res.read()
        text = res.data.decode()
        return int(sum(float(m) for m in re.findall(r"^apiserver_request_total\{[^}]*\} (\S+)$", text, re.M)))


def start_operator(state: Path, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"KUBECONFIG": str(state / "kubeconfig")}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "vigil", "operator", "-n", namespace],
                                stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip


def rss_mib(pid: int, field: str = "VmHWM") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def resident_rss_mib(state: Path, namespace: str, log: Path, rules: int) -> float:
    """RSS of a fresh operator once it has resumed every rule: the cost of rules merely held."""
    operator = start_operator(state, namespace, log)
    try:
        deadline = time.monotonic() + 120
        while log.read_text().count("Resuming is processed") < rules and time.monotonic() < deadline:
            time.sleep(0.5)
        return rss_mib(operator.pid, "VmRSS")
    finally:
        operator.terminate()
        operator.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--state-dir", default=os.environ.get("VIGIL_STATE_DIR", ".vigil"))
    args = parser.parse_args()
    state, ns = Path(args.state_dir), f"bench-{args.rules}-{int(time.time())}"
    bench = Bench(state, ns, args.rules)
    bench.core.create_namespace({"metadata": {"name": ns}})

    # Floor first, on objects no operator watches.
    bench.setup("floor")
    floor = bench.floor("floor")

    log = Path(tempfile.mkdtemp()) / "operator.log"
    operator = start_operator(state, ns, log)
    try:
        bench.setup("op")
        bench.wait("op", 1)
        before, polls = bench.request_count(), bench.polls
        started = time.perf_counter()
        bench.update_all("op")
        bench.wait("op", 2)
        took = time.perf_counter() - started
        # The operator's requests: all the API server served, less the users' patches, our
        # polling and the metrics scrape itself.
        requests = bench.request_count() - before - args.rules - (bench.polls - polls) - 1
        rss = rss_mib(operator.pid)  # VmHWM: the peak
    finally:
        operator.terminate()
        operator.wait(timeout=30)
    resident = resident_rss_mib(state, ns, log.with_name("resident.log"), args.rules)
    n = args.rules
    print(json.dumps({"rules": n, "operator_s": round(took, 2), "operator_updates_per_s": round(n / took, 1),
                      "floor_s": round(floor, 2), "floor_updates_per_s": round(n / floor, 1),
                      "ratio": round(floor / took, 2), "api_requests_per_update": round(requests / n, 1),
                      "operator_peak_rss_mib": round(rss, 1), "operator_resident_rss_mib": round(resident, 1)}))  # fmt: skip
    print(f"reconcile N={n}: operator {n / took:.1f} updates/s, floor {n / floor:.1f} updates/s, "
          f"ratio {floor / took:.2f}; the operator made {requests / n:.1f} API requests per update (floor: 7); "
          f"operator peak RSS {rss:.0f} MiB during the update, {resident:.0f} MiB holding the {n} rules after a restart")


if __name__ == "__main__":
    main()
