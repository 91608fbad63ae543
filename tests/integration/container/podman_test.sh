#!/usr/bin/env bash
# The container image under a real runtime, with what a Kubernetes pod gets and no more:
#
#   podman_test.sh SOURCE_DIR WORK_DIR [IMAGE_TAR]
#
# Loads the image (IMAGE_TAR, default SOURCE_DIR/build/tcpconnect-exporter-image.tar,
# built by scripts/build-image.sh when missing or when TCPCONNECT_REBUILD_IMAGE=1) and
# runs it with exactly the flags of packaging/container/runtime.json (the DaemonSet is
# checked against the same file: tests/packaging/check_daemonset.py) plus a configuration
# mounted over the default, as a ConfigMap would be. Then, scraping /metrics at the
# container's own address (its own network namespace), each check in `checks` runs:
#
#   check_host_connects   N connects from the host, from a cgroup this test makes, to a
#                         127.0.0.0/8 address: counted exactly, with the cgroup's name as
#                         `unit` (ids mapped to paths through the mounted cgroupfs) and
#                         empty namespace, pod and container (not a pod); as
#                         many from a cgroup outside filters.cgroups: not counted (the
#                         filter's levels count from the host's root, not from the
#                         container's cgroup namespace); the DNS capture attached to the
#                         host's cgroup2 root.
#   check_pod_identity    connects from processes placed in fake kubelet cgroups (systemd
#                         and cgroupfs drivers) with their /var/log/pods and
#                         /var/log/containers entries (made under the host's real
#                         directories, which the container mounts read-only, and removed
#                         on exit) carry the pod's namespace, pod and container labels,
#                         counted exactly; a hostile pod directory names nothing and is
#                         counted as rejected.
#   check_unprivileged    the main process is not uid 0, its capabilities are CAP_BPF only
#                         once attached, no_new_privs is set.
#
# Prints the container's resident memory and CPU time (packaging/kubernetes/ sizes its
# requests and limits from them). Removes the container, the image and the cgroup on
# every exit. Root, podman and runc are needed: skipped (77) otherwise, with the reason.
set -euo pipefail

src=$1
work=$2
tar=${3:-$src/build/tcpconnect-exporter-image.tar}

skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "needs root (podman as root, BPF in the container)"
for tool in podman runc curl python3 bpftool; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/setup.sh installs it)"
done

mkdir -p "$work"
name=tcpconnect-podman-test-$$
cgroups=()  # made by the test, removed deepest first
logs=()     # kubelet log entries made by the test
image=
# The host's podman: the runc runtime (crun refuses a cgroup v1/hybrid host) and no
# default ulimits (raising them needs CAP_SYS_RESOURCE, which a sandboxed host may lack).
# Neither changes what the container is granted.
export CONTAINERS_CONF=$work/containers.conf
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
podman_() { timeout 120 podman --runtime runc "$@"; }

cleanup() {
  set +e
  if [[ -n $name ]]; then
    podman_ logs "$name" >"$work/daemon.log" 2>&1
    podman_ rm -f -t 5 "$name" >/dev/null 2>&1
  fi
  [[ -n $image ]] && podman_ rmi -f "$image" >/dev/null 2>&1
  local i
  for ((i = ${#logs[@]} - 1; i >= 0; i--)); do
    rm -rf "${logs[i]}"
  done
  for ((i = ${#cgroups[@]} - 1; i >= 0; i--)); do
    [[ -d ${cgroups[i]} ]] && rmdir "${cgroups[i]}"
  done
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [[ -n $name ]]; then
    echo "--- the daemon's log" >&2
    podman_ logs "$name" 2>&1 | tail -n 30 >&2
  fi
  exit 1
}

# The image.
if [[ ! -f $tar || ${TCPCONNECT_REBUILD_IMAGE:-0} == 1 ]]; then
  ref=$("$src/scripts/build-image.sh" | tail -n 1)
  tar=$src/build/tcpconnect-exporter-image.tar
  podman_ rmi -f "$ref" >/dev/null 2>&1 || true
fi
image=$(podman_ load -q -i "$tar" | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1)
[[ -n $image ]] || fail "podman load -i $tar named no image"
echo "image: $image ($(podman_ image inspect --format '{{.Size}}' "$image") bytes)"

# The flags, from the one place the DaemonSet check reads too; the seccomp profile's path
# is relative to the source tree.
mapfile -t flags < <(python3 -c '
import json, sys
for a in json.load(open(sys.argv[1]))["podman_run"]:
    print(a.replace("seccomp=packaging/", "seccomp=" + sys.argv[2] + "/packaging/"))
' "$src/packaging/container/runtime.json" "$src")
for dir in /var/log/pods /var/log/containers; do mkdir -p "$dir"; done

# The configuration a ConfigMap would hold: the cgroup as `unit`; only connects from the
# test's own cgroups (and kubelet's, for pods) are counted.
cgroup_root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
slice=tcpconnect-podman-$$.slice
# Makes a cgroup (and its parents) below the host's cgroup2 root, removed on exit.
make_cgroup() {
  local path=$cgroup_root dir
  IFS=/ read -ra parts <<<"$1"
  for dir in "${parts[@]}"; do
    path=$path/$dir
    [[ -d $path ]] && continue
    mkdir "$path"
    cgroups+=("$path")
  done
}
config_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config_file"])' \
  "$src/packaging/container/runtime.json")
cat >"$work/config.yaml" <<EOF
labels:
  keep: [family, daddr, dport, unit, namespace, pod, container]
filters:
  cgroups: [$slice, kubepods.slice, kubepods]
EOF
chmod 0644 "$work/config.yaml"
podman_ run --rm "${flags[@]}" -v "$work/config.yaml:$config_file:ro" "$image" \
  --check-config >"$work/check-config.log" 2>&1 ||
  fail "the image's daemon refuses the configuration: $(tail -n 1 "$work/check-config.log")"
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' \
  "$src/packaging/container/runtime.json")

make_cgroup "$slice"  # before the daemon starts: the filter resolves it at start-up
podman_ run -d --name "$name" "${flags[@]}" -v "$work/config.yaml:$config_file:ro" \
  "$image" >/dev/null || fail "podman run failed"
metrics_url=
scrape() { curl -sf --max-time 5 "$metrics_url"; }
# Up to 60 s for the probes to attach and the port to be bound.
rm -f "$work/metrics"
for _ in $(seq 1 120); do
  [[ $(podman_ inspect --format '{{.State.Running}}' "$name") == true ]] ||
    fail "the container exited with $(podman_ inspect --format '{{.State.ExitCode}}' "$name")"
  if [[ -z $metrics_url ]]; then
    address=$(podman_ inspect --format '{{.NetworkSettings.IPAddress}}' "$name")
    [[ -n $address ]] || fail "the container has no address of its own"
    metrics_url=http://$address:$port/metrics
  fi
  scrape >"$work/metrics" 2>/dev/null && break
  sleep 0.5
done
[[ -s $work/metrics ]] || fail "no /metrics at $metrics_url within 60 s"
echo "scraping $metrics_url"

# The value of the first sample matching a regular expression, 0 when none does.
sample() { scrape | grep -E "$1" | head -n 1 | awk '{print $NF}' || true; }

# The sum of the samples of METRIC that carry every label="value" given.
sum_of() {
  local metric=$1
  shift
  scrape | grep "^$metric{" | python3 -c '
import sys
want = [f"{k}=\"{v}\"" for k, v in (a.split("=", 1) for a in sys.argv[1:])]
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in sys.stdin if all(w in l for w in want))))
' "$@"
}

# Waits (up to 10 s) for a sample to read the expected value, then checks it stays there.
expect_sample() {
  local pattern=$1 want=$2 got=
  for _ in $(seq 1 40); do
    got=$(sample "$pattern")
    [[ $got == "$want" ]] && break
    sleep 0.25
  done
  [[ $got == "$want" ]] || fail "$pattern: $got, expected $want"
  sleep 1.5  # a drain interval and more: nothing counted twice
  got=$(sample "$pattern")
  [[ $got == "$want" ]] || fail "$pattern: $got after a drain, expected $want"
}

# Runs CONNECTS connect attempts to ADDRESS:PORT from the cgroup CGROUP (relative to the
# host's cgroup2 root); nothing listens, so each is refused, and each is an attempt.
connect_from_cgroup() {
  local cgroup=$1 address=$2 port=$3 connects=$4
  make_cgroup "$cgroup"
  timeout 30 python3 -c '
import socket, sys
open(sys.argv[1] + "/cgroup.procs", "w").write("0")
for _ in range(int(sys.argv[4])):
    s = socket.socket()
    s.connect_ex((sys.argv[2], int(sys.argv[3])))
    s.close()
' "$cgroup_root/$cgroup" "$address" "$port" "$connects"
}

check_host_connects() {
  local n=25 daddr=127.0.0.$((RANDOM % 200 + 20)) dport=$((RANDOM % 20000 + 30000))
  local unit=connects-$$.scope outside=tcpconnect-podman-$$-outside.scope
  connect_from_cgroup "$slice/$unit" "$daddr" "$dport" "$n"
  connect_from_cgroup "$outside" "$daddr" "$dport" "$n"
  expect_sample "^tcpconnect_connects_total\{family=\"ipv4\",daddr=\"$daddr\",dport=\"$dport\",unit=\"$unit\",namespace=\"\",pod=\"\",container=\"\"\}" "$n"
  local all
  all=$(scrape | grep -E "^tcpconnect_connects_total\{.*daddr=\"$daddr\",dport=\"$dport\"" |
    awk '{ s += $NF } END { print s + 0 }')
  [[ $all == "$n" ]] || fail "$all connects to $daddr:$dport counted, expected $n (filter)"
  expect_sample '^tcpconnect_dns_capture_info\{method="cgroup_skb"\}' 1
  # Attached to the host's root (the program the daemon names), not to its own cgroup.
  local id attached
  id=$(podman_ logs "$name" 2>&1 | sed -n 's/.*ingress program id \([0-9]*\).*/\1/p' | head -n 1)
  attached=$(bpftool -j cgroup show "$cgroup_root" 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))')
  [[ -n $id && " $attached " == *" $id "* ]] ||
    fail "the DNS program (id ${id:-none}) is not on the host's cgroup2 root: $attached"
  echo "ok: $n connects from $unit counted exactly, none from outside the filter;" \
    "DNS capture on $cgroup_root (program $id)"
}

# A pod as kubelet lays it out: its log directory, its container's log link, and a cgroup
# for the container. DRIVER is systemd or cgroupfs; QOS burstable, besteffort or
# guaranteed (no qos level in the path). Sets pod_cgroup (relative to the root).
make_pod() {
  local driver=$1 qos=$2 namespace=$3 pod=$4 container=$5 uid=$6 id=$7
  local dir=/var/log/pods/${namespace}_${pod}_${uid}
  local link=/var/log/containers/${pod}_${namespace}_${container}-${id}.log
  mkdir -p "$dir/$container"
  logs+=("$dir")
  touch "$dir/$container/0.log"
  ln -s "$dir/$container/0.log" "$link"
  logs+=("$link")
  if [[ $driver == systemd ]]; then
    local parent=kubepods.slice pod_slice=kubepods-pod${uid//-/_}.slice
    if [[ $qos != guaranteed ]]; then
      parent=kubepods.slice/kubepods-$qos.slice
      pod_slice=kubepods-$qos-pod${uid//-/_}.slice
    fi
    pod_cgroup=$parent/$pod_slice/cri-containerd-$id.scope
  elif [[ $qos == guaranteed ]]; then
    pod_cgroup=kubepods/pod$uid/$id
  else
    pod_cgroup=kubepods/$qos/pod$uid/$id
  fi
  make_cgroup "$pod_cgroup"
}

check_pod_identity() {
  local n=7 daddr=127.0.0.$((RANDOM % 200 + 20)) dport=$((RANDOM % 20000 + 30000))
  local -a pods=(
    "systemd burstable ns-a web-$$ app"
    "systemd guaranteed ns-b db-$$ postgres"
    "cgroupfs besteffort ns-c batch-$$ worker"
    "cgroupfs guaranteed ns-d cache-$$ redis"
  )
  local spec driver qos namespace pod container uid id got i
  local -a placed=()
  for spec in "${pods[@]}"; do
    read -r driver qos namespace pod container <<<"$spec"
    uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    id=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    make_pod "$driver" "$qos" "$namespace" "$pod" "$container" "$uid" "$id"
    placed+=("$pod_cgroup")
  done
  sleep 2.5  # two drains: the cgroup filter resolves the kubepods cgroups that appeared
  for i in "${!pods[@]}"; do
    read -r driver qos namespace pod container <<<"${pods[i]}"
    connect_from_cgroup "${placed[i]}" "$daddr" "$dport" "$n"
    got=
    for _ in $(seq 1 40); do
      got=$(sum_of tcpconnect_connects_total daddr="$daddr" dport="$dport" \
        namespace="$namespace" pod="$pod" container="$container")
      [[ $got == "$n" ]] && break
      sleep 0.25
    done
    [[ $got == "$n" ]] ||
      fail "$driver/$qos pod $namespace/$pod/$container: $got connects, expected $n"
  done
  # A directory that a naive split at "_" would read as namespace kube-system, with the
  # uid of a pod cgroup: refused, the connects from that cgroup name no pod.
  uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  id=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  mkdir "/var/log/pods/kube-system_coredns_x_$uid"
  logs+=("/var/log/pods/kube-system_coredns_x_$uid")
  connect_from_cgroup "kubepods/besteffort/pod$uid/$id" "$daddr" "$dport" "$n"
  expect_sample "^tcpconnect_connects_total\{family=\"ipv4\",daddr=\"$daddr\",dport=\"$dport\",unit=\"$id\",namespace=\"\",pod=\"\",container=\"\"\}" "$n"
  got=$(sample '^tcpconnect_kubelet_log_entries_rejected ')
  [[ -n $got ]] && ((got >= 1)) ||
    fail "tcpconnect_kubelet_log_entries_rejected is ${got:-absent}, expected at least 1"
  echo "ok: connects from ${#pods[@]} fake pods (systemd and cgroupfs drivers) labelled" \
    "with their namespace, pod and container; a hostile pod directory names nothing" \
    "($got entries rejected)"
}

check_unprivileged() {
  local pid status
  pid=$(podman_ inspect --format '{{.State.Pid}}' "$name")
  status=/proc/$pid/status
  awk '/^Uid:/ { if ($2 == 0 || $3 == 0 || $4 == 0) exit 1 }' "$status" ||
    fail "the daemon runs as uid 0: $(grep ^Uid: "$status")"
  local eff bpf=$((1 << 39))
  eff=$((16#$(awk '/^CapEff:/ {print $2}' "$status")))
  ((eff == bpf)) || fail "effective capabilities $(grep ^CapEff: "$status"), expected CAP_BPF only"
  grep -q '^NoNewPrivs:[[:space:]]*1' "$status" || fail "no_new_privs is not set"
  echo "ok: $(grep ^Uid: "$status" | tr '\t' ' '), CAP_BPF only, no_new_privs"
}

# Resident memory, the container's memory cgroup (BPF maps are charged there) and CPU:
# since start, and over 5 idle seconds (five drains).
report_usage() {
  local pid rss ticks idle hz
  pid=$(podman_ inspect --format '{{.State.Pid}}' "$name")
  hz=$(getconf CLK_TCK)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep 5
  idle=$(($(awk '{print $14 + $15}' "/proc/$pid/stat") - ticks))
  echo "usage: VmRSS ${rss} kB; memory cgroup" \
    "$(podman_ stats --no-stream --format '{{.MemUsage}}' "$name");" \
    "CPU $((ticks * 1000 / hz)) ms from start to here, $((idle * 1000 / hz)) ms in 5 s idle"
}

checks=(check_host_connects check_pod_identity check_unprivileged)
skipped=0
for check in "${checks[@]}"; do
  rc=0
  "$check" || rc=$?
  ((rc == 77)) && skipped=$((skipped + 1))
  ((rc == 0 || rc == 77)) || fail "$check returned $rc"
done
report_usage
echo "PASS: $((${#checks[@]} - skipped)) checks passed, $skipped skipped"
