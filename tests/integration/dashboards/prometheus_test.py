#!/usr/bin/env python3
"""Every query of the dashboard and every rule, against a real Prometheus scraping the
real exporter under real traffic (python3 standard library only).

usage: prometheus_test.py EXPORTER_BINARY [--rules FILE] [--dashboard FILE]

What it does, every step bounded in time:
 1. Starts loopback-only traffic sources of its own: an HTTP server on 127.0.0.1 (the
    allowed, named destination), an HTTP server on [::1] (the unexpected destination),
    a bound but not listening port on 127.0.0.1 (connects to it are refused), and a DNS
    responder on a free 127.0.0.1 UDP port that names the first two
    (svc.tcpconnect.test A 127.0.0.1, unexpected.tcpconnect.test AAAA ::1), answers
    moving.tcpconnect.test A 127.0.0.2 and 127.0.0.3 in turn with TTL 0 (a connect to
    the earlier one, on the closed port, is stale), and NXDOMAIN otherwise.
 2. Writes an exporter configuration with the richest settings this exporter build
    accepts (`--check-config`, section by section): extra labels (unit, comm, and the
    Kubernetes namespace, pod and container, with a `kubernetes` section pointing at fake
    kubelet log directories in the test's work directory), a port
    filter on the test's own ports (so other traffic on the host does not matter),
    `dns.ports` on the responder's port, and an `allowlist` that allows only
    127.0.0.1 on the HTTP port. Sections it rejects are left out and reported.
 3. Starts the exporter on a free 127.0.0.1 port, sends it one SIGHUP (so the reload
    metrics exist), moves itself into a cgroup2 group named like a systemd scope
    (tcpconnect-dashboard-test-PID.scope, so that its connects carry a `unit` label as a
    service's would) inside a fake kubelet pod and container (cgroupfs driver layout,
    below a cgroup of its own: tcpconnect-dashboard-test-PID/kubepods/besteffort/
    pod<uid>/<container id>/...), whose namespace, pod and container the fake log
    directories name, and starts the traffic: every 250 ms, resolve and connect to both
    named servers, one NXDOMAIN lookup, and one refused connect.
 4. Starts `prometheus` on another free 127.0.0.1 port, scraping the exporter every
    second and loading the rules (the only change to the rule file: group `interval:`
    settings are dropped, so the hourly history group is evaluated every second like the
    others instead of possibly never within the test).
 5. Waits for at least 10 successful scrapes and two evaluations of every rule group;
    every rule must then report health "ok".
 6. Evaluates through /api/v1/query, all at the same instant:
    - every recording rule's expression, as is;
    - every alerting rule's expression, as is: it must run without error (it may rightly
      be empty: alert conditions are meant to be false here);
    - every alerting rule's expression "unthresholded", which must return data: the
      expression is split at its top-level `or` into branches; in each branch the
      top-level `and`/`unless` operands (with their on()/ignoring() modifiers) are
      dropped - they only filter - and so is a top-level comparison against a number
      (`> 0.25`, `== 0`); parentheses around what remains are removed and the same is
      applied again. The dropped filter operands are evaluated too, for errors only;
    - every dashboard query, with Grafana's variables replaced: $__rate_interval -> 1m,
      $__interval -> 15s, $__range -> 1h ($__range_s, $__range_ms likewise), every
      query variable -> its allValue (.*), every custom variable -> its current value;
    - every dashboard variable query (label_values) through /api/v1/label/.../values.
    A query that returns nothing fails the test. The summary says why: "pending" when a
    metric it needs is not in the exporter's /metrics at all (or the configuration
    section that enables it was rejected), or, for a label_values query, when no series
    of the exporter carries a non-empty value of that label; "FAIL" otherwise.
 7. Checks what the traffic must have produced: refused connects counted with
    reason="refused", the named destination carrying the DNS answer's name, the
    connects carrying the test's scope as `unit` and its fake pod as `namespace`, `pod`
    and `container`, the unexpected destination counted as
    unexpected and the allowed one not, and the UnexpectedOutboundDestination alert
    firing in the real Prometheus for it, its summary and description naming the
    instance, the pod (the unit when pod labels are not available) and the destination,
    while ExporterDown is not.
 8. Prints a summary; exits 0 when every query and check is ok, 1 when any failed or is
    pending, 77 when not root.

Traffic goes only to 127.0.0.0/8 and ::1: to sockets this script opened, and to the
closed port's number on 127.0.0.2 and 127.0.0.3 (refused).
"""

import argparse
import http.client
import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RULES = os.path.join(REPO, "dashboards", "tcpconnect-exporter-rules.yaml")
DASHBOARD = os.path.join(REPO, "dashboards", "tcpconnect-exporter.json")

JOB = "tcpconnect_exporter"
NAMED_HOST = "svc.tcpconnect.test"
UNEXPECTED_HOST = "unexpected.tcpconnect.test"
MISSING_HOST = "missing.tcpconnect.test"
# Answered A 127.0.0.2 and 127.0.0.3 in turn with TTL 0: connects to the one before the
# latest answer are stale (tcpconnect_dns_stale_connects_total).
MOVING_HOST = "moving.tcpconnect.test"
MOVING_ADDRS = ("127.0.0.2", "127.0.0.3")

# The fake pod the traffic runs in: kubelet's log directories in the work directory name
# it (no API server, as on a real node).
POD_NAMESPACE = "tcpconnect-test"
POD_NAME = f"dashboard-{os.getpid()}"
POD_CONTAINER = "traffic"
POD_UID = f"{os.getpid():08x}-0000-4000-8000-0000000000d5"
POD_CONTAINER_ID = "d5" * 28 + f"{os.getpid():08x}"

MIN_SCRAPES = 10
GRAFANA_BUILTINS = {
    "__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000",
    "__range": "1h", "__range_s": "3600", "__range_ms": "3600000",
}


def log(msg):
    print(msg, flush=True)


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Processes


class Children:
    """Processes this test started; all of them are stopped on every way out."""

    def __init__(self):
        self.procs = []
        # setpriv --pdeathsig KILL: the children die with this script even if it is
        # killed outright (a ctest timeout), without preexec_fn in a threaded program.
        self.prefix = []
        if shutil.which("setpriv"):
            self.prefix = ["setpriv", "--pdeathsig", "KILL", "--"]

    def start(self, argv, log_path):
        out = open(log_path, "ab")
        proc = subprocess.Popen(self.prefix + argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout=10):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop_all(self):
        for proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as e:  # cleanup must go on with the others
                log(f"cleanup: pid {proc.pid}: {e}")


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def wait_for(what, predicate, timeout, interval=0.25):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as e:  # not up yet
            last_error = e
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f}s waiting for {what}"
                  + (f" (last error: {last_error})" if last_error else ""))


# ---------------------------------------------------------------------------------------
# Traffic: loopback servers, a DNS responder, and the client loop


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpServer6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def decode_question(msg):
    """(name, qtype, offset after the question) of a DNS message's first question."""
    labels, i = [], 12
    while msg[i]:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii").lower())
        i += 1 + n
    qtype, _ = struct.unpack("!HH", msg[i + 1:i + 5])
    return ".".join(labels), qtype, i + 5


QTYPE_A, QTYPE_AAAA = 1, 28


class DnsResponder(threading.Thread):
    """Answers A/AAAA for the test's names from a fixed table, NXDOMAIN for the rest."""

    RECORDS = {(NAMED_HOST, QTYPE_A): (socket.AF_INET, "127.0.0.1"),
               (UNEXPECTED_HOST, QTYPE_AAAA): (socket.AF_INET6, "::1")}

    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop_event = stop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while not self.stop_event.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
                self.sock.sendto(self.answer(query), peer)
            except socket.timeout:
                continue
            except (OSError, ValueError, IndexError, UnicodeDecodeError):
                continue
        self.sock.close()

    moving_turn = 0

    def answer(self, query):
        qid, qflags = struct.unpack("!HH", query[:4])
        name, qtype, end = decode_question(query)
        record = self.RECORDS.get((name, qtype))
        ttl = 60
        if (name, qtype) == (MOVING_HOST, QTYPE_A):
            record = (socket.AF_INET, MOVING_ADDRS[self.moving_turn % 2])
            self.moving_turn += 1
            ttl = 0
        # QR, AA, RD copied, RA; rcode NOERROR or NXDOMAIN.
        flags = 0x8000 | 0x0400 | (qflags & 0x0100) | 0x0080 | (0 if record else 3)
        header = struct.pack("!HHHHHH", qid, flags, 1, 1 if record else 0, 0, 0)
        out = header + query[12:end]
        if record:
            family, addr = record
            rdata = socket.inet_pton(family, addr)
            # Name: a pointer to the question's name at offset 12.
            out += struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata
        return out


def resolve(dns_port, name, qtype):
    """The address in the first answer, or None for NXDOMAIN; a real query over UDP."""
    qid = random.randrange(1 << 16)
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name)
    msg += struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(msg, ("127.0.0.1", dns_port))
        resp, _ = s.recvfrom(4096)
    rid, flags, _, ancount, _, _ = struct.unpack("!HHHHHH", resp[:12])
    if rid != qid:
        raise OSError("DNS id mismatch")
    if flags & 0xF or ancount == 0:
        return None
    _, _, i = decode_question(resp)
    rtype, _, _, rdlen = struct.unpack("!HHIH", resp[i + 2:i + 12])
    rdata = resp[i + 12:i + 12 + rdlen]
    return socket.inet_ntop(socket.AF_INET6 if rtype == QTYPE_AAAA else socket.AF_INET, rdata)


class Traffic(threading.Thread):
    def __init__(self, stop, dns_port, named_port, unexpected_port, refused_port):
        super().__init__(daemon=True)
        self.stop_event = stop
        self.dns_port = dns_port
        self.named_port = named_port
        self.unexpected_port = unexpected_port
        self.refused_port = refused_port
        self.counts = {"named": 0, "unexpected": 0, "refused": 0, "nxdomain": 0,
                       "stale": 0, "errors": 0}
        self.last_error = None

    def get(self, host, port):
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        finally:
            conn.close()

    def step(self, what, fn):
        try:
            fn()
            self.counts[what] += 1
        except Exception as e:
            self.counts["errors"] += 1
            self.last_error = f"{what}: {e}"

    def refused(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", self.refused_port))
            except ConnectionRefusedError:
                return
        raise OSError("connect to the closed port was not refused")

    def named(self):
        addr = resolve(self.dns_port, NAMED_HOST, QTYPE_A)
        self.get(addr, self.named_port)

    def unexpected(self):
        addr = resolve(self.dns_port, UNEXPECTED_HOST, QTYPE_AAAA)
        self.get(addr, self.unexpected_port)

    def stale(self):
        """Resolves the moving name twice (two addresses) and connects to the first one,
        on the closed port: the latest answer no longer gives it."""
        first = resolve(self.dns_port, MOVING_HOST, QTYPE_A)
        if resolve(self.dns_port, MOVING_HOST, QTYPE_A) == first:
            raise OSError("the moving name did not move")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect((first, self.refused_port))
            except ConnectionRefusedError:
                return
        raise OSError("connect to the closed port was not refused")

    def nxdomain(self):
        if resolve(self.dns_port, MISSING_HOST, QTYPE_A) is not None:
            raise OSError("expected NXDOMAIN")

    def run(self):
        while not self.stop_event.is_set():
            self.step("named", self.named)
            self.step("unexpected", self.unexpected)
            self.step("nxdomain", self.nxdomain)
            self.step("stale", self.stale)
            self.step("refused", self.refused)
            self.stop_event.wait(0.25)


class SynQueue(threading.Thread):
    """Connects whose first SYN a full accept queue drops: a listener with backlog 0 holds
    one connection not yet accepted, the next connect's SYN is dropped, and once the queue
    has room again its retransmission (after 1 s) is answered: one SYN retransmission per
    round, and a connect in flight meanwhile."""

    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop_event = stop
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.listener.settimeout(3)
        self.port = self.listener.getsockname()[1]
        self.counts = {"retransmitted": 0, "errors": 0}
        self.last_error = None

    def once(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=3):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as waiting:
                waiting.setblocking(False)
                waiting.connect_ex(("127.0.0.1", self.port))
                time.sleep(0.2)
                self.listener.accept()[0].close()  # room for the retransmitted SYN
                _, writable, _ = select.select([], [waiting], [], 5)
                if not writable or waiting.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise OSError("the retransmitted SYN was not answered")
                self.listener.accept()[0].close()

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.once()
                self.counts["retransmitted"] += 1
            except Exception as e:
                self.counts["errors"] += 1
                self.last_error = f"syn queue: {e}"
            self.stop_event.wait(0.25)


# ---------------------------------------------------------------------------------------
# Exporter configuration


def exporter_config_sections(ports, kubelet):
    """Base configuration and the optional sections, in the order they are tried; a
    section given as a list is its alternatives, richest first."""
    base = ("limits:\n"
            "  # The host's other traffic must not push the test's series into overflow.\n"
            "  max_series: 100000\n")
    sections = [
        ("kubernetes", "kubernetes:\n  pod_logs_dir: %s\n  container_logs_dir: %s\n"
         % (kubelet.pods, kubelet.containers)),
        ("labels", ["labels:\n  keep: [family, saddr, daddr, dport, dns_name, comm, unit, "
                    "namespace, pod, container]\n",
                    "labels:\n  keep: [family, saddr, daddr, dport, dns_name, comm, unit]\n"]),
        ("filters", "filters:\n  ports: [%d, %d, %d, %d]\n"
         % (ports["named"], ports["unexpected"], ports["refused"], ports["syn_queue"])),
        ("dns", "dns:\n  enabled: true\n  ports: [%d]\n" % ports["dns"]),
        ("allowlist", "allowlist:\n  - cidr: 127.0.0.1/32\n    ports: [%d, %d]\n"
         % (ports["named"], ports["syn_queue"])),
    ]
    return base, sections


def choose_config(exporter, workdir, ports, kubelet):
    """The richest configuration --check-config accepts; (path, accepted, rejected).
    A section of alternatives is accepted as "name" for its first and "name (fallback)"
    for a later one."""
    base, sections = exporter_config_sections(ports, kubelet)
    path = os.path.join(workdir, "exporter.yaml")

    def accepted(text):
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([exporter, "--check-config", "--config.file", path],
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    ok, out = accepted(base)
    if not ok:
        raise Failure(f"the exporter rejects even the base test configuration: {out}")
    text, kept, rejected = base, [], {}
    for name, alternatives in sections:
        if isinstance(alternatives, str):
            alternatives = [alternatives]
        for i, section in enumerate(alternatives):
            ok, out = accepted(text + section)
            if ok:
                text += section
                kept.append(name if i == 0 else f"{name} (fallback)")
                break
            # The daemon's last log line, without its timestamp and level.
            last = out.splitlines()[-1] if out else "rejected"
            rejected[name if i == 0 else f"{name} (fallback)"] = last.split(" error: ", 1)[-1]
    with open(path, "w") as f:
        f.write(text)
    return path, kept, rejected


# ---------------------------------------------------------------------------------------
# A cgroup named like a systemd scope, for the `unit` label, inside a fake kubelet pod,
# for the `namespace`, `pod` and `container` labels


class FakeKubelet:
    """kubelet's log directories for the fake pod, in the work directory:
    pods/<namespace>_<pod>_<uid>/<container>/ and
    containers/<pod>_<namespace>_<container>-<id>.log (a symlink into the former)."""

    def __init__(self, workdir):
        self.pods = os.path.join(workdir, "pods")
        self.containers = os.path.join(workdir, "containers")
        pod_dir = os.path.join(self.pods, f"{POD_NAMESPACE}_{POD_NAME}_{POD_UID}")
        os.makedirs(os.path.join(pod_dir, POD_CONTAINER))
        os.makedirs(self.containers)
        os.symlink(os.path.join(pod_dir, POD_CONTAINER, "0.log"),
                   os.path.join(self.containers,
                                f"{POD_NAME}_{POD_NAMESPACE}_{POD_CONTAINER}-"
                                f"{POD_CONTAINER_ID}.log"))


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4]
    raise Failure("no cgroup2 file system is mounted")


def own_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise Failure("this process has no cgroup2 path")


class TestScope:
    """This process in MOUNT/tcpconnect-dashboard-test-PID/kubepods/besteffort/pod<uid>/
    <container id>/tcpconnect-dashboard-test-PID.scope while the test runs (kubelet's
    cgroupfs layout below a cgroup of the test's own; the scope, deepest, is the `unit`),
    back where it was afterwards, every directory it made removed."""

    def __init__(self):
        self.mount = cgroup2_mount()
        self.name = f"tcpconnect-dashboard-test-{os.getpid()}.scope"
        parts = [f"tcpconnect-dashboard-test-{os.getpid()}", "kubepods", "besteffort",
                 f"pod{POD_UID}", POD_CONTAINER_ID, self.name]
        self.dirs = [os.path.join(self.mount, *parts[:i + 1]) for i in range(len(parts))]
        self.path = self.dirs[-1]
        self.made = []
        self.home = os.path.join(self.mount, own_cgroup().lstrip("/"))

    def enter(self):
        try:
            for d in self.dirs:
                os.mkdir(d)
                self.made.append(d)
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            raise Failure(f"cannot move the test into cgroup {self.path}: {e}")

    def leave(self):
        if not self.made:
            return
        try:
            with open(os.path.join(self.home, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            log(f"cleanup: cgroup {self.home}: {e}")
        # The children it started there were stopped before.
        for d in reversed(self.made):
            try:
                os.rmdir(d)
            except OSError as e:
                log(f"cleanup: cgroup {d}: {e}")
        self.made = []


# ---------------------------------------------------------------------------------------
# PromQL helpers


STRING_RE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
IDENT_RE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER_RE = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
SET_OPS = {"and", "unless"}
COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
MODIFIERS = {"bool", "on", "ignoring", "group_left", "group_right"}


def top_level_tokens(expr):
    """(start, end, token) of the operators at parenthesis depth 0: the words or/and/
    unless and the comparison operators. Strings and bracketed parts are skipped."""
    out, depth, i, n = [], 0, 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            m = STRING_RE.match(expr, i)
            i = m.end() if m else n
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = IDENT_RE.match(expr, i)
            if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
                word = m.group(0)
                if word == "or" or word in SET_OPS:
                    out.append((i, m.end(), word))
                i = m.end()
                continue
            for op in COMPARISONS:
                if expr.startswith(op, i):
                    # `=~`/`!~` live inside {} only; `!=` and `==` are two characters.
                    out.append((i, i + len(op), op))
                    i += len(op) - 1
                    break
        i += 1
    return out


def skip_modifiers(text):
    """text without leading `bool`, on(...), ignoring(...), group_left(...), ..."""
    while True:
        s = text.lstrip()
        m = IDENT_RE.match(s)
        if not m or m.group(0) not in MODIFIERS:
            return s
        rest = s[m.end():].lstrip()
        if m.group(0) == "bool" or not rest.startswith("("):
            text = rest
            continue
        depth = 0
        for j, c in enumerate(rest):
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                text = rest[j + 1:]
                break


def split_at(expr, tokens, words):
    parts, start, ops = [], 0, []
    for s, e, tok in tokens:
        if tok in words:
            parts.append(expr[start:s])
            ops.append(tok)
            start = e
    parts.append(expr[start:])
    return parts, ops


def unwrap(expr):
    s = expr.strip()
    if not (s.startswith("(") and s.endswith(")")):
        return s
    depth = 0
    for i, c in enumerate(s):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i != len(s) - 1:
            return s  # "(a) / (b)": the outer parentheses are not one pair
    return s[1:-1].strip()


def unthresholded(expr):
    """(bases, filters): the value expressions of an alert condition and the operands
    that only filter them. See the module docstring."""
    bases, filters = [], []
    branches, _ = split_at(expr, top_level_tokens(expr), {"or"})
    for branch in branches:
        branch = skip_modifiers(branch)
        parts, _ = split_at(branch, top_level_tokens(branch), SET_OPS)
        filters.extend(skip_modifiers(p).strip() for p in parts[1:])
        base = parts[0]
        cmp_parts, _ = split_at(base, top_level_tokens(base), set(COMPARISONS))
        if len(cmp_parts) > 1 and all(NUMBER_RE.match(skip_modifiers(p))
                                      for p in cmp_parts[1:]):
            base = cmp_parts[0]
        inner = unwrap(base)
        if inner != base.strip():
            b, f = unthresholded(inner)
            bases.extend(b)
            filters.extend(f)
        else:
            bases.append(base.strip())
    return bases, filters


def metric_names(expr, recording):
    """Exporter metric names an expression needs, recording rules expanded."""
    names = set()
    for token in IDENT_RE.findall(STRING_RE.sub('""', expr)):
        if token in recording:
            names |= metric_names(recording[token], {k: v for k, v in recording.items()
                                                     if k != token})
        elif token.startswith("tcpconnect_"):
            names.add(token)
    return names


# ---------------------------------------------------------------------------------------
# The exporter's /metrics


class Exposition:
    def __init__(self, text):
        self.families = {}  # name -> type
        self.samples = []  # (name, {label: value})
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                self.families[name] = kind
            elif line and not line.startswith("#"):
                m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s", line)
                if m:
                    labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:\\.|[^"\\])*)"',
                                             m.group(3) or ""))
                    self.samples.append((m.group(1), labels))

    def exported(self, name):
        if name in self.families:
            return True
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and self.families.get(name[:-len(suffix)]) in (
                    "histogram", "summary"):
                return True
        return any(s[0] == name for s in self.samples)

    def family_of(self, name):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in self.families:
                return name[:-len(suffix)]
        return name

    def has_samples(self, family):
        return any(self.family_of(s[0]) == family for s in self.samples)

    def label_values(self, family, label):
        return {s[1][label] for s in self.samples
                if self.family_of(s[0]) == family and s[1].get(label)}


# ---------------------------------------------------------------------------------------
# The test


class Result:
    def __init__(self, kind, name, expr, status, detail=""):
        self.kind, self.name, self.expr, self.status, self.detail = (
            kind, name, expr, status, detail)


class PrometheusTest:
    def __init__(self, exporter, rules, dashboard):
        self.exporter = exporter
        self.rules_file = rules
        self.dashboard_file = dashboard
        self.children = Children()
        self.stop_event = threading.Event()
        self.results = []
        self.checks = []

    # -- Prometheus HTTP API ------------------------------------------------------------

    def api(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        url = f"{self.prom_url}{path}" + (f"?{query}" if query else "")
        try:
            _, body = http_get(url, timeout=30)
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
        data = json.loads(body)
        if data.get("status") != "success":
            raise Failure(f"{data.get('errorType')}: {data.get('error')}")
        return data["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr, time=f"{self.eval_time:.3f}")

    # -- set-up -------------------------------------------------------------------------

    def start_traffic_sources(self):
        self.http4 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
        try:
            self.http6 = HttpServer6(("::1", 0), QuietHandler)
        except OSError as e:
            raise Failure(f"cannot listen on [::1] (IPv6 loopback is needed): {e}")
        for srv in (self.http4, self.http6):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             daemon=True).start()
        # Bound, never listening: a SYN to it is answered with RST (refused), and
        # nothing else can take the port while the test runs.
        self.closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.closed.bind(("127.0.0.1", 0))
        self.dns = DnsResponder(self.stop_event)
        self.dns.start()
        self.syn_queue = SynQueue(self.stop_event)
        self.ports = {"named": self.http4.server_address[1],
                      "unexpected": self.http6.server_address[1],
                      "refused": self.closed.getsockname()[1], "dns": self.dns.port,
                      "syn_queue": self.syn_queue.port}
        log(f"traffic: named http://{NAMED_HOST}:{self.ports['named']} (127.0.0.1), "
            f"unexpected http://{UNEXPECTED_HOST}:{self.ports['unexpected']} (::1), "
            f"refused 127.0.0.1:{self.ports['refused']}, dns 127.0.0.1:{self.ports['dns']}")

    def start_exporter(self):
        self.kubelet = FakeKubelet(self.workdir)
        self.config, self.kept, self.rejected = choose_config(
            self.exporter, self.workdir, self.ports, self.kubelet)
        log(f"exporter config: sections {', '.join(self.kept) or '(none)'} accepted"
            + "".join(f"; {k} rejected ({v})" for k, v in self.rejected.items()))
        self.exporter_log = os.path.join(self.workdir, "exporter.log")
        for attempt in range(3):
            port = free_port()
            proc = self.children.start(
                [self.exporter, "--config.file", self.config,
                 "--web.listen-address", f"127.0.0.1:{port}"], self.exporter_log)
            url = f"http://127.0.0.1:{port}/metrics"
            try:
                wait_for("the exporter to serve /metrics",
                         lambda: proc.poll() is None and http_get(url)[0] == 200, 20)
            except Failure:
                if proc.poll() is not None and "in use" in tail(self.exporter_log, 3):
                    continue  # someone took the port between probe and bind
                raise Failure("the exporter did not start:\n" + tail(self.exporter_log))
            self.exporter_proc, self.exporter_port = proc, port
            self.metrics_url = url
            log(f"exporter: pid {proc.pid} on 127.0.0.1:{port}")
            # One successful reload, so that the reload metrics have a value.
            proc.send_signal(signal.SIGHUP)
            return
        raise Failure("no free port for the exporter after 3 attempts")

    def start_prometheus(self):
        prometheus = shutil.which("prometheus")
        if not prometheus:
            raise Failure("prometheus is not installed (scripts/setup.sh installs it)")
        # Same rules, without group intervals: the hourly history group must be
        # evaluated within the test too.
        with open(self.rules_file) as f:
            rules = re.sub(r"(?m)^(\s+)interval:\s*\S+\s*\n", "", f.read())
        rules_path = os.path.join(self.workdir, "rules.yaml")
        with open(rules_path, "w") as f:
            f.write(rules)
        cfg_path = os.path.join(self.workdir, "prometheus.yml")
        self.prom_log = os.path.join(self.workdir, "prometheus.log")
        for attempt in range(3):
            port = free_port()
            with open(cfg_path, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "  evaluation_interval: 1s\n"
                        f"rule_files:\n  - {rules_path}\n"
                        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{self.exporter_port}']\n")
            data = os.path.join(self.workdir, f"data{attempt}")
            proc = self.children.start(
                [prometheus, f"--config.file={cfg_path}", f"--storage.tsdb.path={data}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                self.prom_log)
            self.prom_url = f"http://127.0.0.1:{port}"
            try:
                wait_for("Prometheus to be ready",
                         lambda: proc.poll() is None
                         and http_get(self.prom_url + "/-/ready")[0] == 200, 20)
            except Failure:
                if proc.poll() is not None and "in use" in tail(self.prom_log, 5):
                    continue
                raise Failure("Prometheus did not start:\n" + tail(self.prom_log))
            self.prom_proc = proc
            log(f"prometheus: pid {proc.pid} on 127.0.0.1:{port}")
            return
        raise Failure("no free port for Prometheus after 3 attempts")

    def wait_for_data(self):
        def scraped():
            r = self.api("/api/v1/query",
                         query=f'sum_over_time(up{{job="{JOB}"}}[5m])')["result"]
            return r and float(r[0]["value"][1]) >= MIN_SCRAPES

        wait_for(f"{MIN_SCRAPES} successful scrapes", scraped, 60)

        def evaluations():
            groups = self.api("/api/v1/rules")["groups"]
            return {g["name"]: g.get("lastEvaluation", "") for g in groups}, groups

        def evaluated_since(before):
            now, groups = evaluations()
            self.rule_groups = groups
            # Never evaluated: Go's zero time, 0001-01-01T00:00:00Z.
            return groups and all(not t.startswith("0001") and t != before.get(name)
                                  for name, t in now.items())

        wait_for("every rule group to be evaluated", lambda: evaluated_since({}), 20)
        # Once more, so that rules reading other rules' output see it.
        first, _ = evaluations()
        wait_for("every rule group to be evaluated again", lambda: evaluated_since(first), 20)
        self.eval_time = time.time()

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(self, kind, name, expr, must_have_data=True, features=()):
        try:
            data = self.query(expr)
        except Failure as e:
            self.results.append(Result(kind, name, expr, "FAIL", f"query error: {e}"))
            return
        result = data["result"]
        has_data = bool(result) if data["resultType"] in ("vector", "matrix") else True
        if has_data or not must_have_data:
            self.results.append(Result(kind, name, expr, "ok",
                                       f"{len(result)} series" if data["resultType"] in (
                                           "vector", "matrix") else data["resultType"]))
            return
        missing = sorted(m for m in metric_names(expr, self.recording)
                         if not self.exposition.exported(m))
        disabled = sorted({f"{section} configuration rejected by this exporter"
                           for m in metric_names(expr, self.recording)
                           for section, prefix in (("allowlist", "tcpconnect_unexpected_"),
                                                   ("dns", "tcpconnect_dns_"))
                           if m.startswith(prefix) and section in self.rejected})
        if missing or disabled:
            why = ([f"metric {', '.join(missing)} not exported yet"] if missing else []) \
                + disabled
            self.results.append(Result(kind, name, expr, "pending", "; ".join(why)))
        else:
            self.results.append(Result(kind, name, expr, "FAIL",
                                       "no data although every metric it needs is exported"))

    def evaluate_rules(self):
        self.recording = {}
        for g in self.rule_groups:
            for r in g["rules"]:
                if r["type"] == "recording":
                    self.recording[r["name"]] = r["query"]
        for g in self.rule_groups:
            for r in g["rules"]:
                name = f"{g['name']}/{r['name']}"
                if r.get("health") != "ok":
                    self.results.append(Result("rule", name, r["query"], "FAIL",
                                               f"health {r.get('health')}: "
                                               f"{r.get('lastError')}"))
                if r["type"] == "recording":
                    self.evaluate("recording", name, r["query"])
                    continue
                self.evaluate("alert (full)", name, r["query"], must_have_data=False)
                bases, filters = unthresholded(r["query"])
                for i, base in enumerate(bases):
                    self.evaluate("alert (unthresholded)",
                                  name + (f" [branch {i + 1}]" if len(bases) > 1 else ""),
                                  base)
                for i, f in enumerate(filters):
                    self.evaluate("alert (filter)", f"{name} [filter {i + 1}]", f,
                                  must_have_data=False)

    def substitute(self, text, variables):
        def repl(m):
            name = m.group("braced") or m.group("bracketed") or m.group("plain")
            if name in GRAFANA_BUILTINS:
                return GRAFANA_BUILTINS[name]
            v = variables.get(name)
            if v is None:
                raise Failure(f"undefined variable ${name}")
            if v.get("type") == "query":
                return v.get("allValue") or ".*"
            current = v.get("current", {}).get("value")
            return current[0] if isinstance(current, list) else str(current)

        return VARIABLE_REF.sub(repl, text)

    def evaluate_dashboard(self):
        with open(self.dashboard_file) as f:
            dashboard = json.load(f)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}

        def panels(ps):
            for p in ps:
                yield p
                yield from panels(p.get("panels") or [])

        for p in panels(dashboard["panels"]):
            for t in p.get("targets", []):
                name = f"panel {p['id']} {p['title']!r} {t['refId']}"
                try:
                    expr = self.substitute(t["expr"], variables)
                except Failure as e:
                    self.results.append(Result("dashboard", name, t["expr"], "FAIL", str(e)))
                    continue
                self.evaluate("dashboard", name, expr)

        for v in dashboard["templating"]["list"]:
            if v.get("type") != "query":
                continue
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*",
                             query)
            name = f"variable {v['name']}"
            if not m:
                self.results.append(Result("variable", name, query, "FAIL",
                                           "not a label_values() query"))
                continue
            selector = self.substitute(m.group(1) or "", variables).strip()
            label = m.group(2)
            params = {"match[]": selector} if selector else {}
            try:
                values = self.api(f"/api/v1/label/{label}/values", **params)
            except Failure as e:
                self.results.append(Result("variable", name, query, "FAIL", str(e)))
                continue
            if values:
                self.results.append(Result("variable", name, query, "ok",
                                           f"{len(values)} value(s)"))
                continue
            family = IDENT_RE.match(selector).group(0) if selector else ""
            if family.startswith("tcpconnect_") and not self.exposition.label_values(
                    family, label):
                self.results.append(Result(
                    "variable", name, query, "pending",
                    f"no {family} series has a non-empty {label} label yet"))
            else:
                self.results.append(Result("variable", name, query, "FAIL",
                                           "no values although the exporter has them"))

    # -- what the traffic must have produced ---------------------------------------------

    def check(self, name, status, detail):
        self.checks.append(Result("traffic", name, "", status, detail))

    def check_traffic(self):
        e, p = self.exposition, self.ports
        # The traffic is the premise of everything else: a loaded host may time out a
        # connect now and then, but not often.
        c = self.traffic.counts
        attempts = sum(c.values())
        self.check("traffic generated", "FAIL" if c["errors"] > attempts * 0.1
                   or not c["named"] or not c["refused"] else "ok",
                   ", ".join(f"{k} {v}" for k, v in c.items())
                   + (f" (last error: {self.traffic.last_error})"
                      if self.traffic.last_error else ""))
        sq = self.syn_queue.counts
        self.check("SYN retransmissions generated",
                   "ok" if sq["retransmitted"] and sq["errors"] <= sq["retransmitted"] else "FAIL",
                   ", ".join(f"{k} {v}" for k, v in sq.items())
                   + (f" (last error: {self.syn_queue.last_error})"
                      if self.syn_queue.last_error else ""))
        retransmitted = [s for s in e.samples if s[0] == "tcpconnect_syn_retransmits_total"
                         and s[1].get("dport") == str(p["syn_queue"])]
        self.check("SYN retransmissions counted", "ok" if retransmitted else "FAIL",
                   f"{len(retransmitted)} series with dport={p['syn_queue']}")
        refused = [s for s in e.samples if s[0] == "tcpconnect_connect_failures_total"
                   and s[1].get("reason") == "refused" and s[1].get("dport") == str(p["refused"])]
        self.check("refused connects counted", "ok" if refused else "FAIL",
                   f"{len(refused)} series with reason=refused, dport={p['refused']}")

        # Connects to the named server that carry a name. The name should be the one the
        # DNS answer gave; an exporter that names loopback itself ("localhost") is
        # reported as such.
        named = {s[1]["dns_name"] for s in e.samples if s[0] == "tcpconnect_connects_total"
                 and s[1].get("dport") == str(p["named"]) and s[1].get("dns_name")}
        if named:
            # An answer named the address: "localhost" would be wrong here.
            self.check("named destination",
                       "ok" if NAMED_HOST in {n.rstrip(".") for n in named} else "FAIL",
                       f"127.0.0.1:{p['named']} named {', '.join(sorted(named))}"
                       f" (the DNS answer said {NAMED_HOST})")
        elif "dns" in self.rejected:
            self.check("named destination", "pending", "dns configuration rejected")
        elif not e.has_samples("tcpconnect_dns_responses_total"):
            self.check("named destination", "pending",
                       "metric tcpconnect_dns_responses_total not exported yet")
        else:
            self.check("named destination", "FAIL",
                       f"DNS responses are counted but no connect to 127.0.0.1:{p['named']} "
                       "carries a dns_name")

        def unexpected(port):
            return [s for s in e.samples if s[0] == "tcpconnect_unexpected_connects_total"
                    and s[1].get("dport") == str(port)]

        if "allowlist" in self.rejected or not e.exported("tcpconnect_unexpected_connects_total"):
            why = ("allowlist configuration rejected" if "allowlist" in self.rejected
                   else "metric tcpconnect_unexpected_connects_total not exported yet")
            self.check("unexpected destination", "pending", why)
            self.check("UnexpectedOutboundDestination fires", "pending", why)
        else:
            bad, good = unexpected(p["unexpected"]), unexpected(p["named"])
            ok = bad and not good
            self.check("unexpected destination", "ok" if ok else "FAIL",
                       f"[::1]:{p['unexpected']} unexpected in {len(bad)} series, allowed "
                       f"127.0.0.1:{p['named']} in {len(good)}")
            alerts = self.query(
                f'ALERTS{{alertname="UnexpectedOutboundDestination", alertstate="firing", '
                f'dport="{p["unexpected"]}"}}')["result"]
            self.check("UnexpectedOutboundDestination fires",
                       "ok" if alerts else "FAIL", f"{len(alerts)} firing alert(s)")
            self.check_alert_text(p)
        units = {s[1].get("unit", "") for s in e.samples
                 if s[0] == "tcpconnect_connects_total" and s[1].get("dport") == str(p["named"])}
        self.check("unit label", "ok" if self.scope.name in units else "FAIL",
                   f"connects to 127.0.0.1:{p['named']} carry unit "
                   f"{', '.join(sorted(units)) or '(none)'}; the test runs in {self.scope.name}")
        pods = {(s[1].get("namespace", ""), s[1].get("pod", ""), s[1].get("container", ""))
                for s in e.samples
                if s[0] == "tcpconnect_connects_total" and s[1].get("dport") == str(p["named"])}
        want = (POD_NAMESPACE, POD_NAME, POD_CONTAINER)
        if self.pod_labels():
            self.check("pod labels", "ok" if want in pods else "FAIL",
                       f"connects to 127.0.0.1:{p['named']} carry namespace/pod/container "
                       f"{', '.join('/'.join(x) for x in sorted(pods)) or '(none)'}; the "
                       f"test runs in {'/'.join(want)}")
        else:
            self.check("pod labels", "pending",
                       "kubernetes or pod labels configuration rejected")
        down = self.query('ALERTS{alertname="ExporterDown"}')["result"]
        self.check("ExporterDown stays quiet", "FAIL" if down else "ok",
                   f"{len(down)} alert(s)")

    def pod_labels(self):
        """Whether the exporter took the configuration with the pod labels."""
        return "kubernetes" in self.kept and "labels" in self.kept

    def check_alert_text(self, p):
        """The firing UnexpectedOutboundDestination alert, as Prometheus renders its
        annotations: both name the instance, the pod (else the unit) and the
        destination."""
        firing = [a for a in self.api("/api/v1/alerts")["alerts"]
                  if a["labels"].get("alertname") == "UnexpectedOutboundDestination"
                  and a["labels"].get("dport") == str(p["unexpected"])
                  and a.get("state") == "firing"]
        if not firing:
            self.check("alert text", "FAIL", "no firing alert in /api/v1/alerts")
            return
        instance = f"127.0.0.1:{self.exporter_port}"
        who = f"{POD_NAMESPACE}/{POD_NAME}" if self.pod_labels() else self.scope.name
        wanted = (instance, who, UNEXPECTED_HOST, str(p["unexpected"]))
        for key in ("summary", "description"):
            text = " ".join(firing[0].get("annotations", {}).get(key, "").split())
            missing = [w for w in wanted if w not in text]
            self.check(f"alert {key}", "FAIL" if missing else "ok",
                       (f"lacks {', '.join(missing)}: " if missing else "") + repr(text))

    # -- driver -------------------------------------------------------------------------

    def run(self):
        with tempfile.TemporaryDirectory(prefix="tcpconnect_prom_test.") as workdir:
            self.workdir = workdir
            # Started as root, the exporter rereads its config as nobody on SIGHUP.
            os.chmod(workdir, 0o755)
            try:
                return self.run_in()
            except Failure as e:
                log(f"FAIL: {e}")
                return 1
            finally:
                self.stop_event.set()
                self.children.stop_all()
                if hasattr(self, "scope"):
                    self.scope.leave()
                for srv in ("http4", "http6"):
                    if hasattr(self, srv):
                        getattr(self, srv).shutdown()
                        getattr(self, srv).server_close()
                if hasattr(self, "closed"):
                    self.closed.close()
                if hasattr(self, "syn_queue"):
                    self.syn_queue.listener.close()

    def run_in(self):
        started = time.monotonic()
        self.start_traffic_sources()
        self.start_exporter()
        # After the exporter started: its own connects stay out of the scope.
        self.scope = TestScope()
        self.scope.enter()
        self.traffic = Traffic(self.stop_event, self.ports["dns"], self.ports["named"],
                               self.ports["unexpected"], self.ports["refused"])
        self.traffic.start()
        self.syn_queue.start()
        self.start_prometheus()
        self.wait_for_data()
        # What the exporter exposes now decides "pending" versus "failed".
        _, text = http_get(self.metrics_url)
        self.exposition = Exposition(text)
        self.evaluate_rules()
        self.evaluate_dashboard()
        self.check_traffic()
        if self.exporter_proc.poll() is not None:
            raise Failure("the exporter exited during the test:\n" + tail(self.exporter_log))
        return self.summary(time.monotonic() - started)

    def summary(self, elapsed):
        log("")
        width = max(len(r.kind) for r in self.results + self.checks)
        for r in self.results + self.checks:
            log(f"{r.status.upper():8} {r.kind:{width}} {r.name}"
                + (f": {r.detail}" if r.detail else ""))
            if r.status == "FAIL" and r.expr:
                log(f"{'':8} {'':{width}}   {' '.join(r.expr.split())}")
        every = self.results + self.checks
        counts = {s: sum(1 for r in every if r.status == s) for s in ("ok", "pending", "FAIL")}
        pending = sorted({r.detail for r in every if r.status == "pending"})
        log(f"\nsummary: {counts['ok']} ok, {counts['pending']} pending, "
            f"{counts['FAIL']} failed ({len(self.results)} queries, {len(self.checks)} "
            f"traffic checks) in {elapsed:.0f}s")
        for p in pending:
            log(f"  pending: {p}")
        return 1 if counts["FAIL"] or counts["pending"] else 0


# $name, ${name}, ${name:format}, [[name]]; `$1` (a regex back-reference) is not one.
VARIABLE_REF = re.compile(
    r"\$\{(?P<braced>[A-Za-z0-9_]+)(?::[^}]*)?\}"
    r"|\[\[(?P<bracketed>[A-Za-z0-9_]+)(?::[^\]]*)?\]\]"
    r"|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exporter", help="the tcpconnect_exporter binary")
    parser.add_argument("--rules", default=RULES, help="rule file (default: %(default)s)")
    parser.add_argument("--dashboard", default=DASHBOARD,
                        help="dashboard JSON (default: %(default)s)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (the exporter loads BPF programs)")
        return 77
    if not os.access(args.exporter, os.X_OK):
        print(f"FAIL: {args.exporter} is not an executable")
        return 1

    # A ctest timeout or ^C still cleans up: turn the signals into SystemExit.
    def on_signal(signum, _):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return PrometheusTest(os.path.abspath(args.exporter), args.rules, args.dashboard).run()


if __name__ == "__main__":
    sys.exit(main())
