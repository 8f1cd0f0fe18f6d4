"""Arguments of `vigil dev`, kept apart so `vigil --help` imports nothing heavy."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", default=".vigil", help="where kubeconfig, redis-url, certs and logs live")
    parser.add_argument("--bin-dir", default=None, help="kube-apiserver/etcd/kubectl (default: build or reuse them)")
    parser.add_argument("--crds", default="crds", help="CRD directory applied once the API server is ready")
