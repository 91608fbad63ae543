#!/usr/bin/env bash
# packaging/container/seccomp.json is what packaging/container/make-seccomp.py makes of the
# runtime's default profile installed on this host (Debian's containers-common), and
# allows bpf and perf_event_open to a container without CAP_SYS_ADMIN.
#
#   check_seccomp.sh REPO_DIR
set -euo pipefail
repo=$1
default=/usr/share/containers/seccomp.json
[[ -f $default ]] || { echo "SKIP: $default is missing (scripts/setup.sh installs podman)"; exit 77; }
python3 "$repo/packaging/container/make-seccomp.py" --check "$default"
python3 - "$repo/packaging/container/seccomp.json" <<'PY'
import json, sys
profile = json.load(open(sys.argv[1]))
for call in ("bpf", "perf_event_open"):
    rules = [r for r in profile["syscalls"] if call in r["names"]]
    assert [r["action"] for r in rules] == ["SCMP_ACT_ALLOW"], (call, rules)
    assert not rules[0]["includes"] and not rules[0]["excludes"], (call, rules)
print("OK: seccomp.json is the default profile with bpf and perf_event_open allowed")
PY
