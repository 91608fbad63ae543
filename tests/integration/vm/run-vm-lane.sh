#!/usr/bin/env bash
# The real-systemd, real-distribution-kernel lane: builds the Debian package, boots
# Debian 12's stock kernel with systemd as PID 1 under qemu (TCG), installs the package in
# the VM and runs in-vm-test.sh there; then prints and asserts its results.
#
#   run-vm-lane.sh WORK_DIR
#
# The VM image is cached outside the repository (TCPCONNECT_VM_CACHE, default
# /var/cache/tcpconnect-exporter-vm) and rebuilt when missing or when the package's
# dependencies change. Exit 77 (skipped) without root or without the tools, unless CI=true.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
work=${1:?usage: $0 WORK_DIR}
cache=${TCPCONNECT_VM_CACHE:-/var/cache/tcpconnect-exporter-vm}
vm_timeout=${TCPCONNECT_VM_TIMEOUT:-900}
start=$SECONDS

skip() {
  echo "vm lane: SKIPPED: $*"
  if [[ ${CI:-} == true ]]; then
    echo "vm lane: CI=true: a skip is a failure here" >&2
    exit 1
  fi
  exit 77
}
log() { echo "vm lane: [$((SECONDS - start)) s] $*"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, and a root-owned VM image)"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || skip "$tool is missing (scripts/setup.sh installs it)"
done

mkdir -p "$work"
log "building the package"
deb=$("$repo/packaging/build-deb.sh" "$work/deb" | tail -1)
log "built $(basename "$deb")"

# lintian: errors fail the lane; the rest is printed.
lintian_out=$(lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs "$deb" 2>&1 |
  grep -v '^running with root privileges' || true)
echo "vm lane: lintian: ${lintian_out:-no tags}"
if grep -q '^E:' <<<"$lintian_out"; then
  echo "vm lane: FAIL: lintian reports errors" >&2
  exit 1
fi

# The image holds the package's run-time dependencies: the VM has no network. A virtual
# name is replaced by the installed package that provides it.
deps=()
while read -r name; do
  [[ -z $name ]] && continue
  if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed'; then
    deps+=("$name")
  else
    provider=$(dpkg-query -W -f='${Package} ${Provides}\n' |
      awk -v v="$name" '{for (i = 2; i <= NF; i++) { p = $i; sub(/,$/, "", p); if (p == v && !f) { print $1; f = 1 } } }')
    deps+=("${provider:?no installed package provides $name}")
  fi
done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/^ *//; s/ *$//; s/:any$//')
log "VM image (cache $cache)"
image=$("$here/build-image.sh" "$cache" "${deps[@]}" | tail -1)
log "image $image"

share=$work/share
rm -rf "$share"
mkdir -p "$share/results"
cp "$deb" "$here/in-vm-test.sh" "$share/"
# The recorded DNS responses the in-VM test replays from port 53, and the queries they
# answer (header with QR clear and the question section; over TCP with its length).
mkdir -p "$share/fixtures"
cp "$repo/tests/dns/fixtures/a_udp.bin" "$repo/tests/dns/fixtures/cname_chain_tcp.bin" "$share/fixtures/"
python3 - "$share/fixtures" <<'PY'
import sys
d = sys.argv[1]
def query(r):
    off = 12
    while r[off]:
        off += 1 + r[off]
    q = bytearray(r[:off + 5])
    q[2] &= 0x7F
    q[3] = 0
    q[6:12] = bytes(6)
    return bytes(q)
udp = open(d + "/a_udp.bin", "rb").read()
open(d + "/a_udp.query", "wb").write(query(udp))
tcp = query(open(d + "/cname_chain_tcp.bin", "rb").read()[2:])
open(d + "/cname_chain_tcp.query", "wb").write(len(tcp).to_bytes(2, "big") + tcp)
PY

log "booting Debian $(cat "$image/kernel-release" 2>/dev/null) under qemu (TCG, timeout ${vm_timeout} s)"
set +e
# In the background so that a killed lane (ctest's timeout) takes the VM down with it.
timeout --signal=KILL "$vm_timeout" qemu-system-x86_64 \
  -accel tcg -cpu qemu64 -m 1536 -smp 2 \
  -nodefaults -no-user-config -display none -serial "file:$work/console.log" -no-reboot \
  -nic none \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 panic=-1 systemd.show_status=false" \
  -drive "file=$image/rootfs.img,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" &
vm=$!
stop_vm() {
  pkill -KILL -P "$vm" 2>/dev/null
  kill -KILL "$vm" 2>/dev/null
}
trap stop_vm EXIT
trap 'exit 143' TERM INT
wait "$vm"
qemu_rc=$?
trap - EXIT TERM INT
set -e
log "VM exited ($qemu_rc)"

results=$share/results
echo "----- results (in the VM) -----"
cat "$results/summary.txt" 2>/dev/null || true
echo "-------------------------------"
cp "$results/systemd-fdstore.txt" "$work/" 2>/dev/null || true
if [[ ! -f $results/exit-code ]]; then
  echo "vm lane: FAIL: the test in the VM did not finish (qemu exit $qemu_rc); console:" >&2
  tail -n 40 "$work/console.log" >&2 || true
  tail -n 40 "$results/test.log" >&2 2>/dev/null || true
  exit 1
fi
passed=$(grep -c '^PASS ' "$results/summary.txt" || true)
failed=$(grep -c '^FAIL ' "$results/summary.txt" || true)
if [[ $(cat "$results/exit-code") != 0 || $failed != 0 || $passed -lt 20 ]]; then
  echo "vm lane: FAIL: $failed checks failed, $passed passed; the VM's log:" >&2
  tail -n 60 "$results/test.log" >&2 || true
  echo "vm lane: journal of the unit: $results/journal.txt" >&2
  exit 1
fi
log "all $passed checks passed"
