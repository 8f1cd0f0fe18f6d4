"""`vigil dev up|down|status`: etcd, kube-apiserver and redis-server on loopback, no Docker.

Everything lives in the state dir (default `.vigil/`): pki/, logs/, kubeconfig, redis-url, env
and state.json (what was started). There is no controller-manager or scheduler: no garbage
collection, no pods; see /work/shared/CONTROLPLANE.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

import vigil

NAMES = ("etcd", "kube-apiserver", "redis-server")  # start order; stopped in reverse
READY_TIMEOUT = 90.0
BUILD_TIMEOUT = 3600.0  # a cold build of kube-apiserver takes 10-20 min on 2 cores
STOP_TIMEOUT = 10.0
NO_REDIS = "redis-server not found: run `make deps` or `apt-get install -y redis-server`"


Children = list["subprocess.Popen[bytes]"]  # what this `up` spawned, for cleanup after a failure


class DevError(Exception):
    """A failure reported as one line (then `detail`, e.g. a log tail), exit code `code`."""

    def __init__(self, message: str, code: int = 1, detail: str = "") -> None:
        super().__init__(message)
        self.code, self.detail = code, detail


@dataclass
class State:
    """What `up` started; written to state.json after every process so nothing is orphaned."""

    bin_dir: str
    kubectl: str
    etcd_data_dir: str
    pids: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """Where things live inside the state dir."""

    root: Path
    pki: Path
    logs: Path
    state_json: Path
    kubeconfig: Path
    env: Path
    redis_url: Path
    token_csv: Path

    @classmethod
    def at(cls, root: Path) -> Layout:
        return cls(root, root / "pki", root / "logs", root / "state.json", root / "kubeconfig", root / "env",
                   root / "redis-url", root / "pki" / "token.csv")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


# --- small helpers -------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port free right now; a race with another process shows up as a dead child."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes] | None = None,
             log: Path | None = None) -> None:
    """Poll `check` until true; fail fast when `proc` exits, never wait longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise DevError(f"{what} exited with code {proc.returncode} during startup", detail=tail(log))
        if time.monotonic() > deadline:
            raise DevError(f"{what} not ready after {timeout:.0f}s", detail=tail(log))
        time.sleep(0.2)


def tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    last = log.read_text(errors="replace").splitlines()[-lines:]
    if not last:
        return f"{log} is empty"
    return f"last lines of {log}:\n" + "\n".join("    " + line for line in last)


def write_private(path: Path, data: str | bytes) -> None:
    """Create or replace a 0600 file (keys, tokens, kubeconfig)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def http_ok(url: str, ctx: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    # No proxy handler: a corporate HTTPS_PROXY must not intercept loopback probes.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=2) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def alive(pid: int, name: str, port: int) -> bool:
    """True when `pid` is still our process: a live (non-zombie) `name` started with `port`.

    Checking the binary and port in /proc/<pid>/cmdline means a reused pid is never killed.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if not cmdline:  # zombies and kernel threads have an empty cmdline
        return False
    argv0 = cmdline.split(b"\0")[0].split(b" ")[0]  # redis-server rewrites its title with spaces
    return os.path.basename(argv0.decode(errors="replace")) == name and str(port).encode() in cmdline


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DevError(f"`{shlex.join(argv)}` timed out after {timeout:.0f}s") from None


# --- binaries and PKI ----------------------------------------------------------------------


def resolve_bin_dir(arg: str | None) -> Path:
    if arg:
        bin_dir = Path(arg).resolve()
    else:
        build = Path(vigil.__file__).resolve().parents[2] / "tools" / "controlplane" / "build.sh"
        if not build.is_file():
            raise DevError(f"{build} not found (installed without the source tree?): pass --bin-dir DIR "
                           "with kube-apiserver, etcd and kubectl")
        bin_dir = run_build(build)
    missing = [b for b in ("kube-apiserver", "etcd", "kubectl") if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        raise DevError(f"{', '.join(missing)} missing in {bin_dir}: pass --bin-dir DIR with kube-apiserver, "
                       "etcd and kubectl, or omit it to build them")
    return bin_dir


def run_build(build: Path) -> Path:
    """Run build.sh (stderr passes through: progress and its own one-line errors)."""
    cache = os.environ.get("VIGIL_CACHE") or str(Path.home() / ".cache" / "vigil")
    proc = subprocess.Popen(["bash", str(build), cache], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: go build and its compilers
        proc.wait()
        raise DevError(f"{build} did not finish in {BUILD_TIMEOUT:.0f}s: run it by hand to see why") from None
    except BaseException:  # ^C: the build runs in its own session, so stop it explicitly
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    if proc.returncode != 0:
        raise DevError("", proc.returncode)  # build.sh already said why on stderr
    lines = out.strip().splitlines()
    if not lines:
        raise DevError(f"{build} printed no bin dir: run it by hand, then pass --bin-dir")
    return Path(lines[-1])


def make_pki(pki: Path) -> str:
    """CA, API-server serving cert, service-account key and admin token; returns the token."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
             signer: ec.EllipticCurvePrivateKey, exts: list[x509.ExtensionType]) -> x509.Certificate:
        now = datetime.now(timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=365))
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False))
        for ext in exts:
            b = b.add_extension(ext, critical=isinstance(ext, (x509.BasicConstraints, x509.KeyUsage)))
        return b.sign(signer, hashes.SHA256())

    def usage(**on: bool) -> x509.KeyUsage:
        flags = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
        return x509.KeyUsage(**{f: on.get(f, False) for f in flags})

    pki.mkdir(parents=True, exist_ok=True)
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("vigil-dev-ca", ca_key, None, ca_key,
              [x509.BasicConstraints(ca=True, path_length=0), usage(digital_signature=True, key_cert_sign=True,
                                                                    crl_sign=True)])
    sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "10.0.0.1")]
    sans += [x509.DNSName(d) for d in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")]
    srv = cert("kube-apiserver", srv_key, ca, ca_key,
               [x509.BasicConstraints(ca=False, path_length=None), usage(digital_signature=True),
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), x509.SubjectAlternativeName(sans)])
    write_private(pki / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    write_private(pki / "ca.key", pem_key(ca_key))
    write_private(pki / "apiserver.crt", srv.public_bytes(serialization.Encoding.PEM))
    write_private(pki / "apiserver.key", pem_key(srv_key))
    write_private(pki / "sa.key", pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    token = secrets.token_urlsafe(32)
    write_private(pki / "token.csv", f'{token},vigil-admin,vigil-admin,"system:masters"\n')
    return token


# --- state ---------------------------------------------------------------------------------


def load_state(lay: Layout) -> State | None:
    if not lay.state_json.exists():
        return None
    try:
        return State(**json.loads(lay.state_json.read_text()))
    except (ValueError, TypeError) as e:
        raise DevError(f"unreadable {lay.state_json} ({e}): stop leftover etcd/kube-apiserver/redis-server "
                       "by hand and remove it") from None


def save_state(lay: Layout, st: State) -> None:
    tmp = lay.state_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=2) + "\n")
    tmp.replace(lay.state_json)  # atomic: a crash never leaves half a state file


def liveness(st: State) -> dict[str, bool]:
    return {n: alive(st.pids[n], n, st.ports[n]) for n in NAMES if n in st.pids}


def health(lay: Layout, st: State) -> dict[str, bool]:
    """Per process: running and answering (/readyz for kube-apiserver, PING for redis)."""
    up = liveness(st)
    if up.get("kube-apiserver"):
        up["kube-apiserver"] = apiserver_ready(lay, st.ports["kube-apiserver"])
    if up.get("redis-server"):
        up["redis-server"] = redis_ping(st.ports["redis-server"])
    return up


def apiserver_ready(lay: Layout, port: int) -> bool:
    ctx = ssl.create_default_context(cafile=str(lay.pki / "ca.crt"))
    token = lay.token_csv.read_text().split(",")[0]
    return http_ok(f"https://127.0.0.1:{port}/readyz", ctx, token)


def stop(st: State) -> list[str]:
    """Stop what is still ours, one at a time: kube-apiserver hangs on shutdown once etcd is gone."""
    return [n for n in reversed(NAMES) if n in st.pids and terminate(st.pids[n], n, st.ports[n])]


def terminate(pid: int, name: str, port: int) -> bool:
    """SIGTERM, wait, then SIGKILL; re-checks the pid before each signal. False if it was not running."""
    if not alive(pid, name, port):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if alive(pid, name, port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and alive(pid, name, port):
            time.sleep(0.1)
    return True


def clean(lay: Layout, st: State | None) -> None:
    """Remove the etcd data dir and the files that point at a cluster; logs stay."""
    if st and Path(st.etcd_data_dir).name.startswith("vigil-etcd-"):  # never rmtree a foreign path
        shutil.rmtree(st.etcd_data_dir, ignore_errors=True)
    for path in (lay.state_json, lay.env, lay.redis_url, lay.kubeconfig):
        path.unlink(missing_ok=True)


# --- starting ------------------------------------------------------------------------------


def spawn(lay: Layout, st: State, kids: Children, name: str, argv: list[str],
          port: int) -> subprocess.Popen[bytes]:
    with lay.log(name).open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=lay.root, start_new_session=True)  # survives `vigil dev up` and ^C
    kids.append(proc)
    st.pids[name], st.ports[name] = proc.pid, port
    save_state(lay, st)
    return proc


def reap(kids: Children) -> None:
    """Stop our own children after a failed start; as their parent we cannot hit a reused pid."""
    for proc in reversed(kids):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is None:
                proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(STOP_TIMEOUT)


def start_etcd(lay: Layout, st: State, kids: Children) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [f"{st.bin_dir}/etcd", f"--data-dir={st.etcd_data_dir}", f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}", "--listen-peer-urls=http://localhost:0", "--unsafe-no-fsync"]
    proc = spawn(lay, st, kids, "etcd", argv, port)
    wait_for("etcd", lambda: http_ok(f"{url}/health"), READY_TIMEOUT, proc, lay.log("etcd"))


def start_apiserver(lay: Layout, st: State, kids: Children) -> None:
    port, pki = free_port(), lay.pki
    argv = [f"{st.bin_dir}/kube-apiserver", f"--etcd-servers=http://127.0.0.1:{st.ports['etcd']}",
            f"--secure-port={port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--authorization-mode=RBAC", "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount", f"--service-account-issuer=https://127.0.0.1:{port}/",
            f"--service-account-key-file={pki}/sa.key", f"--service-account-signing-key-file={pki}/sa.key",
            f"--tls-cert-file={pki}/apiserver.crt", f"--tls-private-key-file={pki}/apiserver.key",
            f"--client-ca-file={pki}/ca.crt", f"--token-auth-file={lay.token_csv}",
            # Since 1.37 the lease reconciler refuses a loopback advertise address; nothing here
            # needs the `kubernetes` Service's endpoints.
            "--endpoint-reconciler-type=none"]
    proc = spawn(lay, st, kids, "kube-apiserver", argv, port)
    wait_for("kube-apiserver", lambda: apiserver_ready(lay, port), READY_TIMEOUT, proc,
             lay.log("kube-apiserver"))


def start_redis(lay: Layout, st: State, kids: Children) -> None:
    exe = shutil.which("redis-server")
    if exe is None:
        raise DevError(NO_REDIS)
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(lay.root)]
    proc = spawn(lay, st, kids, "redis-server", argv, port)
    wait_for("redis-server", lambda: redis_ping(port), READY_TIMEOUT, proc, lay.log("redis-server"))


def write_client_files(lay: Layout, st: State, token: str) -> None:
    server = f"https://127.0.0.1:{st.ports['kube-apiserver']}"
    ca = base64.b64encode((lay.pki / "ca.crt").read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "vigil",
        "clusters": [{"name": "vigil", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "vigil-admin", "user": {"token": token}}],
        "contexts": [{"name": "vigil", "context": {"cluster": "vigil", "user": "vigil-admin"}}],
    }
    write_private(lay.kubeconfig, yaml.safe_dump(config, sort_keys=False))
    redis_url = f"redis://127.0.0.1:{st.ports['redis-server']}/0"
    lay.redis_url.write_text(redis_url + "\n")
    lay.env.write_text(f"export KUBECONFIG={shlex.quote(str(lay.kubeconfig))} "
                       f"VIGIL_REDIS_URL={shlex.quote(redis_url)} PATH={shlex.quote(st.bin_dir)}:\"$PATH\"\n")


def start_fresh(args: argparse.Namespace, lay: Layout) -> State:
    bin_dir = resolve_bin_dir(args.bin_dir)
    if shutil.which("redis-server") is None:  # fail before starting anything that would need stopping
        raise DevError(NO_REDIS)
    lay.logs.mkdir(parents=True, exist_ok=True)
    token = make_pki(lay.pki)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: etcd without disk latency
    st = State(str(bin_dir), str(bin_dir / "kubectl"), tempfile.mkdtemp(prefix="vigil-etcd-", dir=shm))
    kids: Children = []
    try:
        for start in (start_etcd, start_apiserver, start_redis):
            start(lay, st, kids)
        write_client_files(lay, st, token)
    except BaseException as e:
        reap(kids)  # nothing half-started stays behind
        clean(lay, st)
        if isinstance(e, DevError):
            raise DevError(f"{e}; stopped what was started: a port race passes on a rerun, else see the log",
                           e.code, e.detail) from None
        raise
    return st


def apply_crds(lay: Layout, st: State, crds: Path) -> None:
    if not sorted(crds.glob("*.yaml")):
        return
    kubectl, log = [st.kubectl, f"--kubeconfig={lay.kubeconfig}"], lay.log("crds")
    for argv in ([*kubectl, "apply", "--server-side", "--field-manager=vigil-dev", "-f", str(crds)],
                 [*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]):
        res = run(argv, timeout=90)
        log.write_text(f"$ {shlex.join(argv)}\n{res.stdout}{res.stderr}")
        if res.returncode != 0:  # CEL errors run to pages: the first line here, the rest in the log
            first = " ".join((res.stderr or res.stdout).split())[:300]
            raise DevError(f"the cluster is up but `kubectl {argv[2]}` of {crds} failed: {first} ... "
                           f"(full output: {log}); fix the CRDs and rerun `vigil dev up`")


# --- actions -------------------------------------------------------------------------------


def up(args: argparse.Namespace, lay: Layout) -> int:
    st = load_state(lay)
    if st is not None:
        ok = health(lay, st)
        if all(ok.values()) and len(ok) == len(NAMES):
            apply_crds(lay, st, Path(args.crds))
            summary(args, lay, st, "already running, reused")
            return 0
        if any(liveness(st).values()):
            bad = ", ".join(n for n in NAMES if not ok.get(n))
            raise DevError(f"{bad} not running or not answering ({lay.state_json}): run `vigil dev down` first", 2)
        print(f"vigil dev: stale {lay.state_json} (all its processes are dead): cleaning up")
        clean(lay, st)
    st = start_fresh(args, lay)
    apply_crds(lay, st, Path(args.crds))
    summary(args, lay, st, "started")
    return 0


def down(args: argparse.Namespace, lay: Layout) -> int:
    st = load_state(lay)
    if st is None:
        print(f"vigil dev: nothing running ({lay.state_json} absent)")
        return 0
    stopped = stop(st)
    clean(lay, st)
    print(f"vigil dev: stopped {', '.join(stopped) or 'nothing (all were already dead)'}; logs kept in {lay.logs}")
    return 0


def status(args: argparse.Namespace, lay: Layout) -> int:
    st = load_state(lay)
    if st is None:
        print(f"vigil dev: nothing running ({lay.state_json} absent): run `vigil dev up`")
        return 1
    ok, running = health(lay, st), liveness(st)
    for n in NAMES:
        word = "healthy" if ok.get(n) else "running but not answering" if running.get(n) else "dead"
        print(f"{n:15} pid {st.pids.get(n, '-'):<8} port {st.ports.get(n, '-'):<6} {word}")
    return 0 if all(ok.get(n) for n in NAMES) else 1


def summary(args: argparse.Namespace, lay: Layout, st: State, how: str) -> None:
    kubeconfig = Path(args.state_dir) / "kubeconfig"
    print(f"vigil dev: control plane {how}\n"
          f"  server      https://127.0.0.1:{st.ports['kube-apiserver']}\n"
          f"  kubeconfig  {lay.kubeconfig}\n"
          f"  redis       {lay.redis_url.read_text().strip()}\n"
          f"  env         . {Path(args.state_dir) / 'env'}\n"
          f"  try         kubectl --kubeconfig {kubeconfig} get alertrules")


@contextlib.contextmanager
def locked(lay: Layout) -> Iterator[None]:
    """One `vigil dev` per state dir at a time (e.g. `make -j` running two `up`s)."""
    lay.root.mkdir(parents=True, exist_ok=True)
    with (lay.root / ".lock").open("w") as f:
        def try_lock() -> bool:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        try:
            wait_for("the lock", try_lock, 120)
        except DevError:
            raise DevError(f"another `vigil dev` holds {lay.root}/.lock for 120s: wait for it or kill it") from None
        yield


def main(args: argparse.Namespace) -> int:
    lay = Layout.at(Path(args.state_dir).resolve())
    action = {"up": up, "down": down, "status": status}[args.action]
    try:
        if action is status:  # read-only: no need to wait behind a cold build
            return status(args, lay)
        with locked(lay):
            return action(args, lay)
    except DevError as e:
        if str(e):
            print(f"vigil dev {args.action}: {e}", file=sys.stderr)
        if e.detail:
            print(e.detail, file=sys.stderr)
        return e.code
    except OSError as e:  # unwritable state dir, missing binary, ...: one line, no traceback
        print(f"vigil dev {args.action}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vigil dev {args.action}: interrupted", file=sys.stderr)
        return 130
