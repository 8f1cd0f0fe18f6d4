#!/usr/bin/env bash
# `make demo`: what Vigil does today, on the local control plane that `make cluster` started.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
. .vigil/env   # KUBECONFIG, VIGIL_REDIS_URL, and the control plane's kubectl first on PATH
ns=${DEMO_NS:-vigil-demo}

step() { printf '\n\033[1m+ %s\033[0m\n' "$*"; }

kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
step "kubectl -n $ns apply -f examples/"
kubectl -n "$ns" apply -f examples/
step "kubectl -n $ns get vigil"
kubectl -n "$ns" get vigil
step "kubectl explain alertrule.spec.triggers.actions.targetType"
kubectl explain alertrule.spec.triggers.actions.targetType | sed -n '/DESCRIPTION/,$p'
step "kubectl -n $ns apply -f examples/invalid/slack-to-user.yaml   (refused by the API server)"
kubectl -n "$ns" apply -f examples/invalid/slack-to-user.yaml 2>&1 | sed 's/^/  /' || true
printf '\nThe cluster keeps running: export KUBECONFIG=%s (stop it with make cluster-down).\n' "$KUBECONFIG"
