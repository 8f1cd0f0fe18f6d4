"""`make demo`'s event part: the real sentry-sdk sends to the ingest through a Project's DSN, then
what landed in Redis is shown. Usage: demo_events.py DSN REDIS_URL PROJECT_ID"""

from __future__ import annotations

import json
import sys
import time

import redis
import sentry_sdk


class CheckoutError(Exception):
    pass


def checkout() -> None:
    try:
        {}["cart"]
    except KeyError as cause:
        raise CheckoutError("cart vanished during checkout") from cause


def send(dsn: str) -> None:
    sentry_sdk.init(dsn=dsn, release="backend@1.4.0", environment="production", traces_sample_rate=1.0,
                    default_integrations=False)  # fmt: skip
    sentry_sdk.set_user({"id": "7", "email": "ada@example.com"})
    for _ in range(2):
        try:
            checkout()
        except CheckoutError:
            sentry_sdk.capture_exception()
    sentry_sdk.capture_message("disk almost full on 10.0.0.7", level="warning")
    with sentry_sdk.start_transaction(op="http.server", name="POST /checkout"):
        with sentry_sdk.start_span(op="db", name="INSERT order"):
            time.sleep(0.02)
    sentry_sdk.flush(timeout=10)


def show(url: str, project: int) -> None:
    r = redis.Redis.from_url(url, decode_responses=True)
    for kind in ("events", "transactions"):
        key = f"vigil:{{p{project}}}:{kind}"
        print(f"{key}: {r.xlen(key)} entries")
        for _, f in r.xrange(key):
            extra = f"duration {float(f['duration']):.0f} ms" if kind == "transactions" else f"group {f['group'][:8]}"
            print(f"  {f['type']:<11} {f['level']:<8} {extra:<16} new={f.get('is_new', '-')} "
                  f"{f['title'][:50]!r} user={f['user']} tags={len(json.loads(f['tags']))}")
    for group in r.zrange(f"vigil:{{p{project}}}:groups", 0, -1):
        g = r.hgetall(f"vigil:{{p{project}}}:group:{group}")
        print(f"group {group[:8]}: times_seen={g['times_seen']} title={g['title'][:50]!r}")


if __name__ == "__main__":
    dsn, url, project = sys.argv[1], sys.argv[2], int(sys.argv[3])
    send(dsn)
    time.sleep(0.5)
    show(url, project)
