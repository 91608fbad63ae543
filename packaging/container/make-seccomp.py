#!/usr/bin/env python3
"""Writes packaging/container/seccomp.json from the runtime's default profile.

  packaging/container/make-seccomp.py [DEFAULT] > packaging/container/seccomp.json
  packaging/container/make-seccomp.py --check [DEFAULT]   (exit 1 when the file differs)

DEFAULT is the default seccomp profile of podman and CRI-O as Debian ships it
(/usr/share/containers/seccomp.json, package golang-github-containers-common); it is also
the profile containerd and Docker apply, up to their versions. That profile allows bpf()
and perf_event_open() only to a container that holds CAP_SYS_ADMIN (and returns EPERM
otherwise). The exporter holds CAP_BPF and CAP_PERFMON instead, which is what the kernel
itself asks for since 5.8; so the two calls are taken out of both CAP_SYS_ADMIN rules and
allowed on their own. Everything else is the default profile, unchanged.
"""
import json
import pathlib
import sys

UNGATED = ("bpf", "perf_event_open")
HERE = pathlib.Path(__file__).resolve().parent


def generate(default):
    profile = json.loads(default)
    rules = []
    for rule in profile["syscalls"]:
        names = rule["names"]
        gated = "CAP_SYS_ADMIN" in rule.get("includes", {}).get("caps", []) or \
            "CAP_SYS_ADMIN" in rule.get("excludes", {}).get("caps", [])
        if gated and any(n in names for n in UNGATED):
            rule = dict(rule, names=[n for n in names if n not in UNGATED])
        rules.append(rule)
    rules.append({
        "names": list(UNGATED),
        "action": "SCMP_ACT_ALLOW",
        "args": [],
        "comment": "tcpconnect_exporter: with CAP_BPF and CAP_PERFMON, not CAP_SYS_ADMIN",
        "includes": {},
        "excludes": {},
    })
    profile["syscalls"] = rules
    return json.dumps(profile, indent=2) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    source = pathlib.Path(args[0] if args else "/usr/share/containers/seccomp.json")
    out = generate(source.read_text())
    if not check:
        sys.stdout.write(out)
        return 0
    if (HERE / "seccomp.json").read_text() != out:
        print(f"packaging/container/seccomp.json differs from what {source} gives: "
              "run packaging/container/make-seccomp.py > packaging/container/seccomp.json",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
