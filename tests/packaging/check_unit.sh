#!/usr/bin/env bash
# The shipped systemd unit, checked on the host (no systemd as PID 1 needed):
# - it carries what the service relies on: Type=notify with a watchdog, reload by SIGHUP,
#   restart on failure, the fd store, the capabilities and the system-call filter;
# - its Documentation= file is the one the package installs;
# - `systemd-analyze security --offline=true` rates its exposure at most 3.0, and at
#   exactly the figure README.md states.
# What systemd does with the unit at run time is checked in tests/integration/vm.
#
#   check_unit.sh REPO_DIR
set -euo pipefail

repo=${1:?usage: $0 REPO_DIR}
unit=$repo/systemd/tcpconnect-exporter.service
failed=0
fail() {
  echo "FAIL: $*"
  failed=1
}

for line in 'Type=notify' 'NotifyAccess=main' 'ExecReload=/bin/kill -HUP $MAINPID' \
  'Restart=on-failure' 'User=tcpconnect-exporter' 'NoNewPrivileges=yes' \
  'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'ProtectKernelModules=yes' \
  'AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN' \
  'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN'; do
  grep -qxF -- "$line" "$unit" || fail "the unit lacks the line: $line"
done
grep -qE '^WatchdogSec=[1-9]' "$unit" || fail "the unit sets no WatchdogSec="
grep -qE '^FileDescriptorStoreMax=[1-9]' "$unit" || fail "the unit keeps no fd store"
grep -qE '^RestrictAddressFamilies=' "$unit" || fail "the unit sets no RestrictAddressFamilies="
grep -qxF 'SystemCallFilter=@system-service' "$unit" ||
  fail "the unit's system-call filter is not based on @system-service"
grep -qE '^SystemCallFilter=.*\bbpf\b.*\bperf_event_open\b' "$unit" ||
  fail "the unit's system-call filter does not allow bpf and perf_event_open"

# Documentation= names the README as the package installs it: dh_compress gzips the
# files in /usr/share/doc larger than 4 kB.
docs=$repo/packaging/debian/tcpconnect-exporter.docs
while read -r uri; do
  path=${uri#file:}
  [[ $path == /usr/share/doc/tcpconnect-exporter/* ]] || continue
  name=${path##*/}
  source=$repo/$(grep -xF -- "${name%.gz}" "$docs" || true)
  if [[ ! -f $source || -d $source ]]; then
    fail "Documentation=$uri: ${name%.gz} is not in $docs"
  elif (($(stat -c %s "$source") > 4096)) && [[ $name != *.gz ]]; then
    fail "Documentation=$uri: the package installs ${name}.gz (dh_compress)"
  elif (($(stat -c %s "$source") <= 4096)) && [[ $name == *.gz ]]; then
    fail "Documentation=$uri: the package installs ${name%.gz} uncompressed"
  fi
done < <(sed -n 's/^Documentation=\(file:.*\)/\1/p' "$unit" | tr ' ' '\n')

out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
score=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$out")
if [[ -z $score ]]; then
  echo "$out" | tail -n 5
  fail "systemd-analyze security printed no overall exposure level"
else
  echo "systemd-analyze security --offline=true: exposure $score"
  awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score is above 3.0"
  stated=$(sed -n 's/.*--offline=true` rates it \*\*\([0-9.]*\)\*\*.*/\1/p' "$repo/README.md")
  [[ $stated == "$score" ]] ||
    fail "README.md states the exposure as '${stated:-nothing}', systemd-analyze says $score"
fi

((failed == 0)) && echo "OK: $unit"
exit $failed
