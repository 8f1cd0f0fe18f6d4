#!/usr/bin/env bash
# `make demo`: what Vigil does today, on the local control plane that `make cluster` started.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
. .vigil/env   # KUBECONFIG, VIGIL_REDIS_URL, and the control plane's kubectl first on PATH
ns=${DEMO_NS:-vigil-demo}
log=.vigil/logs/operator-demo.log

step() { printf '\n\033[1m+ %s\033[0m\n' "$*"; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: poll for up to 30 s
  local what=$1; shift
  for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what; operator log: $log" >&2; tail -20 "$log" >&2; exit 1
}

kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

step "the operator, with its ServiceAccount's least-privilege token (manifests/rbac.yaml)"
kubectl apply -k manifests/ >/dev/null
sa_config=.vigil/operator-demo.kubeconfig
KUBECONFIG=$sa_config kubectl config set-cluster vigil --server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" \
  --certificate-authority=.vigil/pki/ca.crt --embed-certs >/dev/null
KUBECONFIG=$sa_config kubectl config set-credentials vigil-operator \
  --token="$(kubectl -n vigil-system create token vigil-operator --duration=1h)" >/dev/null
KUBECONFIG=$sa_config kubectl config set-context vigil --cluster=vigil --user=vigil-operator >/dev/null
KUBECONFIG=$sa_config kubectl config use-context vigil >/dev/null
ingest_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/vigil ingest --host 127.0.0.1 --port "$ingest_port" --redis-url "$VIGIL_REDIS_URL" >.vigil/logs/ingest-demo.log 2>&1 &
ingest=$!
KUBECONFIG=$sa_config .venv/bin/vigil operator -n "$ns" --redis-url "$VIGIL_REDIS_URL" \
  --ingest-url "http://127.0.0.1:$ingest_port" >"$log" 2>&1 &
operator=$!
trap 'kill $operator $ingest 2>/dev/null; wait $operator $ingest 2>/dev/null || true' EXIT
echo "vigil operator -n $ns (pid $operator, log $log)"
echo "vigil ingest on 127.0.0.1:$ingest_port (pid $ingest, log .vigil/logs/ingest-demo.log)"
# A previous demo's objects go first; the operator, running now, releases their finalizers.
kubectl -n "$ns" delete alertrules,alertrulesnapshots,incidents,projects --all --timeout=60s >/dev/null

step "kubectl -n $ns apply -f examples/   (a Project, an AlertRule, two Incidents)"
kubectl -n "$ns" apply -f examples/
wait_for "the rule to be Ready" kubectl -n "$ns" wait alertrule/backend-error-spike --for=condition=Ready --timeout=1s
step "kubectl -n $ns get vigil"
kubectl -n "$ns" get vigil

step "a user raises the critical threshold to 150 and widens the window to 10 minutes"
sed -e 's/alertThreshold: 100/alertThreshold: 150/' -e 's/timeWindow: 5/timeWindow: 10/' examples/alertrule.yaml \
  | kubectl -n "$ns" apply -f -
wait_for "the snapshot" kubectl -n "$ns" get alertrulesnapshot backend-error-spike-g1
wait_for "the update to be handled" bash -c \
  "[ \"\$(kubectl -n $ns get ar backend-error-spike -o jsonpath='{.status.observedGeneration}')\" = 2 ]"
step "kubectl -n $ns get ar,ars,inc   (the old version archived, its incidents moved there and closed)"
kubectl -n "$ns" get ar,ars,inc
step "what the snapshot keeps: kubectl -n $ns get ars backend-error-spike-g1 -o yaml (excerpt)"
kubectl -n "$ns" get ars backend-error-spike-g1 -o jsonpath='{"rule.timeWindow: "}{.spec.rule.timeWindow}{"\nrule.triggers[0].alertThreshold: "}{.spec.rule.triggers[0].alertThreshold}{"\nchangedBy: "}{.spec.changedBy}{"\nincidents: "}{.status.incidents}{"\n"}'
step "kubectl -n $ns get events"
kubectl -n "$ns" get events --sort-by=.lastTimestamp -o custom-columns=OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message

step "the Project's DSN, published by the operator (its key Secret was created for it)"
wait_for "the project to be Ready" kubectl -n "$ns" wait project/backend --for=condition=Ready --timeout=1s
dsn=$(kubectl -n "$ns" get project backend -o jsonpath='{.status.dsn}')
echo "status.dsn: $dsn"
# A fresh start for project 42's data in Redis, so this run's events are new again.
.venv/bin/python -c 'import sys, redis; r = redis.Redis.from_url(sys.argv[1]); [r.delete(k) for k in r.scan_iter("vigil:{p42}:*")]' "$VIGIL_REDIS_URL"
step "the real sentry-sdk sends two identical errors, a message and a transaction to that DSN"
.venv/bin/python tools/demo_events.py "$dsn" "$VIGIL_REDIS_URL" 42

step "kubectl explain alertrule.spec.triggers.actions.targetType"
kubectl explain alertrule.spec.triggers.actions.targetType | sed -n '/DESCRIPTION/,$p'
step "kubectl -n $ns apply -f examples/invalid/slack-to-user.yaml   (refused by the API server)"
kubectl -n "$ns" apply -f examples/invalid/slack-to-user.yaml 2>&1 | sed 's/^/  /' || true
printf '\nThe cluster keeps running: export KUBECONFIG=%s (stop it with make cluster-down).\n' "$KUBECONFIG"
