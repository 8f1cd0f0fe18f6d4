"""The `vigil` command: one entry point for every process Vigil runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _crds(args: argparse.Namespace) -> int:
    from vigil import crdgen

    return crdgen.main(Path(args.out), check=args.check)


def _dev(args: argparse.Namespace) -> int:
    from vigil import devcluster

    return devcluster.main(args)


def _operator(args: argparse.Namespace) -> int:
    import kopf

    import vigil.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose)
    kopf.run(
        standalone=not args.peering,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        liveness_endpoint=args.liveness,
        memo=kopf.Memo(redis_url=args.redis_url, ingest_url=args.ingest_url),
    )
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from vigil.ingest.server import Limits, run

    if not args.redis_url:
        print("vigil ingest: no Redis: pass --redis-url or set VIGIL_REDIS_URL", file=sys.stderr)
        return 2
    run(args.port, args.redis_url, host=args.host,
        limits=Limits(max_event_bytes=args.max_event_bytes, max_envelope_bytes=args.max_envelope_bytes))  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    crds = sub.add_parser("crds", help="write crds/*.yaml from the models")
    crds.add_argument("--out", default="crds", help="directory for the CRD files (default: crds)")
    crds.add_argument("--check", action="store_true", help="exit 1 when the directory drifts from the models")
    crds.set_defaults(func=_crds)

    op = sub.add_parser("operator", help="run the operator (Kopf) against the current kubeconfig or in-cluster")
    scope = op.add_mutually_exclusive_group(required=True)
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    op.add_argument("--peering", action="store_true", help="coordinate with other replicas (default: standalone)")
    op.add_argument("--liveness", default=None, help="serve liveness, e.g. http://0.0.0.0:8080/healthz")
    op.add_argument("--redis-url", default=os.environ.get("VIGIL_REDIS_URL"),
                    help="where Project keys are mirrored for the ingest (default: $VIGIL_REDIS_URL)")
    op.add_argument("--ingest-url", default=os.environ.get("VIGIL_INGEST_URL", "http://localhost:8000"),
                    help="the ingest's public URL, used in the DSNs (default: $VIGIL_INGEST_URL or %(default)s)")
    op.add_argument("-v", "--verbose", action="store_true")
    op.set_defaults(func=_operator)

    ing = sub.add_parser("ingest", help="the ingest sidecar: Sentry's store and envelope endpoints")
    ing.add_argument("--port", type=int, default=8000)
    ing.add_argument("--host", default="0.0.0.0")
    ing.add_argument("--redis-url", default=os.environ.get("VIGIL_REDIS_URL"), help="default: $VIGIL_REDIS_URL")
    ing.add_argument("--max-event-bytes", type=int, default=1 << 20, help="an event, decompressed (default 1 MiB)")
    ing.add_argument("--max-envelope-bytes", type=int, default=100 << 20,
                     help="a request body, compressed or not (default 100 MiB)")
    ing.set_defaults(func=_ingest)

    dev = sub.add_parser("dev", help="the local control plane: etcd, kube-apiserver, redis-server")
    from vigil import devcluster_args

    devcluster_args.add_arguments(dev)
    dev.set_defaults(func=_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
