#!/usr/bin/env bash
# Connect-throughput benchmark: loopback connects per second with and without the
# exporter (and, optionally, bpftrace counting the same tracepoint), in interleaved rounds
# of one run, plus what the BPF program costs per run (kernel.bpf_stats_enabled).
#
# Builds nothing: build first, then
#   sudo tests/bench/run_connect_bench.sh [BUILD_DIR] [options]      (BUILD_DIR: build/)
# Run with --help for the options. It measures and prints; it asserts nothing.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: run_connect_bench.sh [BUILD_DIR] [options]

  BUILD_DIR              CMake build directory holding tcpconnect_exporter and
                         tests/bench/connect_storm (default: build, relative to the repo)
  --rounds R             rounds; each runs every arm once (default 5)
  --seconds S            length of each measured storm (default 4)
  --threads N            connecting threads (default 2)
  --max-connects M       cap on connects per storm (default 2000000)
  --close fin|rst        how the client closes (default fin: orderly close)
  --family 4|6           127.0.0.1 or ::1 (default 4)
  --backend B            probes.backend for the exporter: auto|tp_btf|raw_tp|tracepoint
                         (default: what the config file says)
  --config FILE          exporter config (default config/tcpconnect_exporter.yaml)
  --arms LIST            comma-separated, in round order, from baseline, exporter, bpftrace
                         (default baseline,exporter,bpftrace; bpftrace only if installed)
  --no-bpf-stats         leave kernel.bpf_stats_enabled alone (no ns/run figures, and no
                         stats overhead in the traced arms)
EOF
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=build
rounds=5
seconds=4
threads=2
max_connects=2000000
close_mode=fin
family=4
backend=""
config=$repo/config/tcpconnect_exporter.yaml
arms=""
bpf_stats=1

while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --max-connects) max_connects=$2; shift 2 ;;
    --close) close_mode=$2; shift 2 ;;
    --family) family=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --arms) arms=$2; shift 2 ;;
    --no-bpf-stats) bpf_stats=0; shift ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done

die() { echo "run_connect_bench: $*" >&2; exit 1; }

[[ $build = /* ]] || build=$repo/$build
exporter_bin=$build/tcpconnect_exporter
storm_bin=$build/tests/bench/connect_storm
[[ $(id -u) -eq 0 ]] || die "needs root (loads BPF programs, sets kernel.bpf_stats_enabled)"
[[ -x $exporter_bin ]] || die "no $exporter_bin: build first (cmake --build $build)"
[[ -x $storm_bin ]] || die "no $storm_bin: build first (cmake --build $build)"
[[ -r $config ]] || die "cannot read $config"
[[ $rounds =~ ^[1-9][0-9]*$ && $rounds -le 100 ]] || die "--rounds: 1..100"
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds: a number"
[[ -z $backend || $backend =~ ^(auto|tp_btf|raw_tp|tracepoint)$ ]] ||
  die "--backend: auto|tp_btf|raw_tp|tracepoint"
for tool in curl bpftool ss awk; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
if [[ -z $arms ]]; then
  arms=baseline,exporter
  if command -v bpftrace >/dev/null; then
    arms+=,bpftrace
  else
    echo "note: bpftrace is not installed: its arm is skipped (apt-get install bpftrace)"
  fi
fi
IFS=, read -r -a arm_list <<<"$arms"
for arm in "${arm_list[@]}"; do
  case $arm in
    baseline | exporter) ;;
    bpftrace) command -v bpftrace >/dev/null || die "--arms bpftrace: bpftrace is not installed" ;;
    *) die "--arms: unknown arm '$arm'" ;;
  esac
done

tmp=$(mktemp -d /tmp/connect_bench.XXXXXX)
daemon_pid=""
tracer_pid=""
scraper_pid=""
old_bpf_stats=""

# Waits up to $2 tenths of a second for process $1 to exit.
wait_exit() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "warning: pid $pid did not exit; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_scraper() {
  if [[ -n $scraper_pid ]]; then
    kill "$scraper_pid" 2>/dev/null || true
    wait "$scraper_pid" 2>/dev/null || true
    scraper_pid=""
  fi
}

stop_daemon() {
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait_exit "$daemon_pid" 50
    daemon_pid=""
  fi
}

stop_tracer() {
  if [[ -n $tracer_pid ]]; then
    # SIGINT makes bpftrace print its maps and detach.
    kill -INT "$tracer_pid" 2>/dev/null || true
    wait_exit "$tracer_pid" 100
    tracer_pid=""
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_scraper
  stop_daemon
  stop_tracer
  if [[ -n $old_bpf_stats ]]; then
    sysctl -q -w kernel.bpf_stats_enabled="$old_bpf_stats" >/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The exporter's config: the given file, with probes.backend replaced when asked.
exporter_config=$config
if [[ -n $backend ]]; then
  exporter_config=$tmp/config.yaml
  grep -qE '^  backend:' "$config" ||
    die "$config has no '  backend:' line under probes: to replace; use a config that does"
  sed -E "s/^  backend:.*/  backend: $backend/" "$config" >"$exporter_config"
fi
"$exporter_bin" --check-config --config.file "$exporter_config" >/dev/null ||
  die "the exporter rejects $exporter_config"

if ((bpf_stats)); then
  old_bpf_stats=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -q -w kernel.bpf_stats_enabled=1
fi

# A TCP port below the ephemeral range that nothing listens on.
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 10000))
    if [[ -z $(ss -Htln "sport = :$p") ]]; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found in 20000..29999"
}

# "RUN_TIME_NS RUN_CNT" of BPF program $1 (0 0 without bpf_stats).
prog_stats() {
  local line t c
  line=$(bpftool prog show id "$1" 2>/dev/null | head -n1) || true
  t=$(sed -nE 's/.* run_time_ns ([0-9]+).*/\1/p' <<<"$line")
  c=$(sed -nE 's/.* run_cnt ([0-9]+).*/\1/p' <<<"$line")
  echo "${t:-0} ${c:-0}"
}

# Ids of the loaded BPF programs whose name matches the regex $1, one a line, sorted.
prog_ids() {
  bpftool prog show 2>/dev/null |
    awk -v re="$1" '/^[0-9]+:/ { for (i = 1; i < NF; i++) if ($i == "name" && $(i + 1) ~ re) { sub(":", "", $1); print $1 } }' |
    sort
}

# Storm result line field: field NAME LINE.
field() { sed -nE "s/.*[ ]$1=([-0-9.]+).*/\1/p" <<<"$2"; }

metrics_url=""
prog_id=""

start_daemon() {
  local port before i
  port=$(free_port)
  metrics_url=http://127.0.0.1:$port/metrics
  before=$(prog_ids '^tc_')
  "$exporter_bin" --config.file "$exporter_config" --web.listen-address "127.0.0.1:$port" \
    --log.level warn >"$tmp/daemon.log" 2>&1 &
  daemon_pid=$!
  for ((i = 0; i < 100; i++)); do
    curl -fsS -m 1 -o "$tmp/metrics" "$metrics_url" 2>/dev/null && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! [[ -s $tmp/metrics ]]; then
    cat "$tmp/daemon.log" >&2
    die "the exporter did not serve $metrics_url"
  fi
  # The program id: from the probe_info self-metric when it carries one, otherwise the
  # tc_* program that appeared since the daemon started.
  prog_id=$(sed -nE 's/^tcpconnect_probe_info\{.*[{,]id="([0-9]+)".*/\1/p' "$tmp/metrics" | head -n1)
  if [[ -z $prog_id ]]; then
    prog_id=$(comm -13 <(echo "$before") <(prog_ids '^tc_') | head -n1)
  fi
  [[ -n $prog_id ]] || die "cannot find the exporter's BPF program"
  backend_seen=$(sed -nE 's/^tcpconnect_probe_info\{.*backend="([a-z_]+)".*/\1/p' "$tmp/metrics" | head -n1)
  rm -f "$tmp/metrics"
}

start_bpftrace() {
  local before i
  local script='tracepoint:sock:inet_sock_set_state /args->oldstate == 7 && args->newstate == 2/ { @[ntop(args->daddr), args->dport] = count(); }'
  before=$(prog_ids '^inet_sock_set_s')
  if mountpoint -q /sys/kernel/tracing || [[ -d /sys/kernel/debug/tracing/events ]]; then
    bpftrace -e "$script" >"$tmp/bpftrace.out" 2>&1 &
  else
    # tracepoint: needs tracefs; mount it in a private mount namespace that dies with
    # bpftrace, so the host is left as it was.
    # shellcheck disable=SC2016  # $1 is expanded by the inner sh
    unshare -m --propagation private sh -c \
      'mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace -e "$1"' sh "$script" \
      >"$tmp/bpftrace.out" 2>&1 &
  fi
  tracer_pid=$!
  prog_id=""
  for ((i = 0; i < 300; i++)); do
    kill -0 "$tracer_pid" 2>/dev/null || break
    # The program is loaded just before it is attached; the settling pause covers that.
    prog_id=$(comm -13 <(echo "$before") <(prog_ids '^inet_sock_set_s') | head -n1)
    [[ -n $prog_id ]] && break
    sleep 0.1
  done
  if [[ -z $prog_id ]]; then
    cat "$tmp/bpftrace.out" >&2
    die "bpftrace did not attach"
  fi
}

# Scrapes once a second, as Prometheus would, for at most $1 seconds.
start_scraper() {
  local limit=$1
  (
    for ((i = 0; i < limit; i++)); do
      curl -fsS -m 2 -o /dev/null "$metrics_url" 2>/dev/null || true
      sleep 1
    done
  ) &
  scraper_pid=$!
}

# What the exporter counted for 127.0.0.1:$1 (the storm's listener).
exporter_count() {
  local ip=127.0.0.1
  [[ $family = 6 ]] && ip=::1
  curl -fsS -m 5 "$metrics_url" 2>/dev/null |
    awk -v d="daddr=\"$ip\"" -v p="dport=\"$1\"" \
      '/^tcpconnect_connects_total\{/ && index($0, d) && index($0, p) { s += $NF } END { printf "%d\n", s }'
}

bpftrace_count() {
  awk -v p=", $1]:" 'index($0, p) { s += $NF } END { printf "%d\n", s }' "$tmp/bpftrace.out"
}

storm() {
  "$storm_bin" --threads "$threads" --seconds "$1" --max-connects "$max_connects" \
    --close "$close_mode" --family "$family" 2>>"$tmp/storm.err" | grep '^result'
}

scrape_limit=$(awk -v s="$seconds" 'BEGIN { printf "%d\n", s + 5 }')
results=$tmp/results  # round arm cps connects errors overflows runs runs_per_connect ns_per_run ns_per_connect counted
: >"$results"

run_round() {
  local round=$1 arm=$2 line cps connects errors overflows port stats0 stats1 t0 c0 t1 c1
  local runs="-" rpc="-" npr="-" npc="-" counted="-"
  prog_id=""
  case $arm in
    exporter) start_daemon ;;
    bpftrace) start_bpftrace ;;
  esac
  # Same settling time in every arm: the traced arms have just started a process.
  sleep 0.5
  [[ $arm = exporter ]] && start_scraper "$scrape_limit"
  [[ -n $prog_id ]] && stats0=$(prog_stats "$prog_id")
  line=$(storm "$seconds")
  [[ -n $prog_id ]] && stats1=$(prog_stats "$prog_id")
  stop_scraper
  port=$(field port "$line")
  case $arm in
    exporter) counted=$(exporter_count "$port"); stop_daemon ;;
    bpftrace) stop_tracer; counted=$(bpftrace_count "$port") ;;
  esac
  cps=$(field connects_per_second "$line")
  connects=$(field connects "$line")
  errors=$(field errors "$line")
  overflows=$(field listen_overflows "$line")
  if [[ -n $prog_id ]]; then
    read -r t0 c0 <<<"$stats0"
    read -r t1 c1 <<<"$stats1"
    if ((bpf_stats && c1 > c0)); then
      runs=$((c1 - c0))
      rpc=$(awk -v r="$runs" -v c="$connects" 'BEGIN { printf "%.2f", c ? r / c : 0 }')
      npr=$(awk -v t=$((t1 - t0)) -v r="$runs" 'BEGIN { printf "%.1f", t / r }')
      npc=$(awk -v t=$((t1 - t0)) -v c="$connects" 'BEGIN { printf "%.1f", c ? t / c : 0 }')
    fi
  fi
  echo "$round $arm $cps $connects $errors $overflows $runs $rpc $npr $npc $counted" >>"$results"
  printf '%5s  %-9s %12s %10s %6s %9s %10s %8s %8s %10s %10s\n' \
    "$round" "$arm" "$cps" "$connects" "$errors" "$overflows" "$runs" "$rpc" "$npr" "$npc" "$counted"
}

echo "connect-throughput benchmark: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "storm: $threads connecting threads, ${seconds}s or $max_connects connects per round," \
  "close=$close_mode, IPv$family; rounds=$rounds; arms=$arms;" \
  "exporter config=$exporter_config${backend:+ (probes.backend: $backend)};" \
  "bpf_stats=$([[ $bpf_stats = 1 ]] && echo on || echo off)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
others=$(prog_ids '^(tc_|inet_sock_set_s)' | wc -l)
((others == 0)) || echo "warning: $others other connect-tracing BPF program(s) already loaded" \
  "(another exporter or test?): they slow every arm alike"
# Warm-up storm, discarded.
storm 1 >/dev/null
echo
printf '%5s  %-9s %12s %10s %6s %9s %10s %8s %8s %10s %10s\n' \
  round arm connects/s connects errors overflows prog_runs runs/conn ns/run ns/conn counted
backend_seen=""
for ((r = 1; r <= rounds; r++)); do
  for arm in "${arm_list[@]}"; do
    run_round "$r" "$arm"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n $backend_seen ]] && echo "exporter probe backend: $backend_seen"
if [[ -s $tmp/storm.err ]]; then
  echo "connect errors reported by the storm:"
  sort "$tmp/storm.err" | uniq -c | sed 's/^/  /'
fi

# Medians per arm, and each traced arm against the baseline.
echo
awk -v arms="$arms" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    cps[$2, $1] = $3; n[$2]++
    if ($9 != "-") { npr[$2, ++m[$2]] = $9; npc[$2, m[$2]] = $10; rpc[$2, m[$2]] = $8 }
    if ($1 > rounds) rounds = $1
  }
  END {
    k = split(arms, A, ",")
    printf "%-9s %18s %10s %10s %10s %22s %18s\n", "arm", "median connects/s", "runs/conn", "ns/run", "ns/conn", "median/baseline", "pairwise (median)"
    for (i = 1; i <= k; i++) {
      a = A[i]; delete v
      for (r = 1; r <= rounds; r++) v[r] = cps[a, r]
      med[a] = median(v, rounds)
    }
    for (i = 1; i <= k; i++) {
      a = A[i]
      s_rpc = s_npr = s_npc = "-"
      if (m[a]) {
        delete v; for (j = 1; j <= m[a]; j++) v[j] = rpc[a, j]; s_rpc = sprintf("%.2f", median(v, m[a]))
        delete v; for (j = 1; j <= m[a]; j++) v[j] = npr[a, j]; s_npr = sprintf("%.1f", median(v, m[a]))
        delete v; for (j = 1; j <= m[a]; j++) v[j] = npc[a, j]; s_npc = sprintf("%.1f", median(v, m[a]))
      }
      ratio = "-"; pw = "-"; pairs = ""
      if (a != "baseline" && ("baseline" in med) && med["baseline"] > 0) {
        ratio = sprintf("%.3f", med[a] / med["baseline"])
        delete v
        for (r = 1; r <= rounds; r++) {
          v[r] = cps["baseline", r] > 0 ? cps[a, r] / cps["baseline", r] : 0
          pairs = pairs sprintf(" %.3f", v[r])
        }
        pw = sprintf("%.3f", median(v, rounds))
      }
      printf "%-9s %18.0f %10s %10s %10s %22s %18s\n", a, med[a], s_rpc, s_npr, s_npc, ratio, pw
      if (pairs != "") printf "          pairwise %s/baseline by round:%s\n", a, pairs
    }
  }' rounds="$rounds" "$results"
echo
echo "connects/s: completed connect()+close() per second over all threads. prog_runs: runs of the"
echo "traced arm's BPF program during the storm (every inet_sock_set_state event on the host,"
echo "both ends of each connection, and other processes' traffic). ns/run, ns/conn: its"
echo "bpf_stats run time per run and per storm connect. counted: connects to the storm's port"
echo "that the tracer counted (the storm's connects + errors, if nothing was lost)."
