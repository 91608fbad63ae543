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
trap 'echo "run_connect_bench: command failed at line $LINENO" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# The exporter's config: a copy of the given file taken now (every round runs the same
# one, even if the file is edited meanwhile), with probes.backend replaced when asked.
exporter_config=$tmp/config.yaml
cp "$config" "$exporter_config"
if [[ -n $backend ]]; then
  # "  backend: B" goes right under "probes:" (added when the file has no such section);
  # the section's own backend line is dropped.
  awk -v b="$backend" '
    /^[^ #]/ { in_probes = ($0 ~ /^probes:[[:space:]]*(#.*)?$/) }
    in_probes && /^  backend:/ { next }
    { print }
    in_probes && /^probes:/ { print "  backend: " b; done = 1 }
    END { if (!done) print "probes:\n  backend: " b }' "$config" >"$exporter_config"
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

# "RUN_TIME_NS RUN_CNT RECURSION_MISSES" of BPF program $1 (zeros without bpf_stats).
prog_stats() {
  local line t c m
  line=$(bpftool prog show id "$1" 2>/dev/null | head -n1) || true
  t=$(sed -nE 's/.* run_time_ns ([0-9]+).*/\1/p' <<<"$line")
  c=$(sed -nE 's/.* run_cnt ([0-9]+).*/\1/p' <<<"$line")
  m=$(sed -nE 's/.* recursion_misses ([0-9]+).*/\1/p' <<<"$line")
  echo "${t:-0} ${c:-0} ${m:-0}"
}

# CPU time of process $1 so far, in ns: the sum over its threads (schedstat).
proc_cpu_ns() {
  { cat "/proc/$1/task/"*/schedstat 2>/dev/null || true; } | awk '{ s += $1 } END { printf "%d\n", s }'
}

# CPU time used by the whole machine so far (all CPUs, all states but idle and iowait), in
# clock ticks.
machine_busy_ticks() {
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
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

# "COUNTED LOST": connects to 127.0.0.1:$1 (the storm's listener) that the exporter
# counted, and connects to 127.0.0.1 (any port) whose outcome it did not see: attempts
# minus failures minus latency observations (established).
exporter_count() {
  local ip=127.0.0.1
  if [[ $family = 6 ]]; then ip=::1; fi
  curl -fsS -m 5 "$metrics_url" 2>/dev/null |
    awk -v d="daddr=\"$ip\"" -v p="dport=\"$1\"" '
      # The latency histogram names a loopback destination dns_name="localhost" and
      # leaves its daddr empty (daddr only when unnamed); every loopback address is
      # "localhost", so with nothing else connecting to 127/8 or ::1 the two sets agree.
      /^tcpconnect_connect_duration_seconds_count\{/ {
        if (index($0, d) || index($0, "dns_name=\"localhost\"")) established += $NF
        next
      }
      !index($0, d) { next }
      /^tcpconnect_connects_total\{/ { all += $NF; if (index($0, p)) port += $NF }
      /^tcpconnect_connect_failures_total\{/ { failed += $NF }
      END { printf "%d %d\n", port, all - failed - established }'
}

bpftrace_count() {
  awk -v p=", $1]:" 'index($0, p) { s += $NF } END { printf "%d\n", s }' "$tmp/bpftrace.out"
}

storm() {
  "$storm_bin" --threads "$threads" --seconds "$1" --max-connects "$max_connects" \
    --close "$close_mode" --family "$family" 2>>"$tmp/storm.err" | grep '^result'
}

scrape_limit=$(awk -v s="$seconds" 'BEGIN { printf "%d\n", s + 5 }')
# One line per round and arm, with the fields named in row_header.
results=$tmp/results
clk_tck=$(getconf CLK_TCK)
: >"$results"
row_format='%5s  %-9s %10s %9s %8s %6s %5s %10s %7s %7s %8s %7s %9s %9s %5s %6s\n'
row_header=(round arm connects/s cpu_us/c connects errors ovf prog_runs runs/c ns/run ns/c misses tracer_us counted lost others)

run_round() {
  local round=$1 arm=$2 line cps cpu connects errors overflows port
  local stats0="" stats1="" t0 c0 m0 t1 c1 m1 cpu0=0 cpu1=0 busy0 busy1 storm_s pid=""
  local runs="-" rpc="-" npr="-" npc="-" misses="-" tracer_us="-" counted="-" lost="-"
  prog_id=""
  case $arm in
    exporter) start_daemon; pid=$daemon_pid ;;
    bpftrace) start_bpftrace; pid=$tracer_pid ;;
  esac
  # Same settling time in every arm: the traced arms have just started a process.
  sleep 0.5
  if [[ $arm = exporter ]]; then start_scraper "$scrape_limit"; fi
  if [[ -n $pid ]]; then
    stats0=$(prog_stats "$prog_id")
    cpu0=$(proc_cpu_ns "$pid")
  fi
  busy0=$(machine_busy_ticks)
  line=$(storm "$seconds")
  busy1=$(machine_busy_ticks)
  if [[ -n $pid ]]; then
    stats1=$(prog_stats "$prog_id")
    cpu1=$(proc_cpu_ns "$pid")
  fi
  stop_scraper
  port=$(field port "$line")
  case $arm in
    exporter) read -r counted lost <<<"$(exporter_count "$port")"; stop_daemon ;;
    bpftrace) stop_tracer; counted=$(bpftrace_count "$port") ;;
  esac
  cps=$(field connects_per_second "$line")
  cpu=$(field cpu_us_per_connect "$line")
  connects=$(field connects "$line")
  errors=$(field errors "$line")
  overflows=$(field listen_overflows "$line")
  storm_s=$(field seconds "$line")
  if [[ -n $pid ]]; then
    tracer_us=$(awk -v t=$((cpu1 - cpu0)) -v c="$connects" \
      'BEGIN { printf "%.2f", c ? t / 1e3 / c : 0 }')
    read -r t0 c0 m0 <<<"$stats0"
    read -r t1 c1 m1 <<<"$stats1"
    if ((bpf_stats && c1 > c0)); then
      runs=$((c1 - c0))
      misses=$((m1 - m0))
      rpc=$(awk -v r="$runs" -v c="$connects" 'BEGIN { printf "%.2f", c ? r / c : 0 }')
      npr=$(awk -v t=$((t1 - t0)) -v r="$runs" 'BEGIN { printf "%.1f", t / r }')
      npc=$(awk -v t=$((t1 - t0)) -v c="$connects" 'BEGIN { printf "%.1f", c ? t / c : 0 }')
    fi
  fi
  # CPUs' worth of time that neither the storm nor the tracer used: the machine's other load.
  others=$(awk -v b=$((busy1 - busy0)) -v hz="$clk_tck" -v s="$storm_s" -v c="$connects" \
    -v own="$cpu" -v t=$((cpu1 - cpu0)) \
    'BEGIN { o = s > 0 ? (b / hz - c * own / 1e6 - t / 1e9) / s : 0; printf "%.2f", o < 0 ? 0 : o }')
  echo "$round $arm $cps $cpu $connects $errors $overflows $runs $rpc $npr $npc $misses" \
    "$tracer_us $counted $others $lost" >>"$results"
  # shellcheck disable=SC2059  # the format is ours
  printf "$row_format" "$round" "$arm" "$cps" "$cpu" "$connects" "$errors" "$overflows" \
    "$runs" "$rpc" "$npr" "$npc" "$misses" "$tracer_us" "$counted" "$lost" "$others"
}

echo "connect-throughput benchmark: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "storm: $threads connecting threads, ${seconds}s or $max_connects connects per round," \
  "close=$close_mode, IPv$family; rounds=$rounds; arms=$arms;" \
  "exporter config=$exporter_config${backend:+ (probes.backend: $backend)};" \
  "bpf_stats=$(if ((bpf_stats)); then echo on; elif [[ $(sysctl -n kernel.bpf_stats_enabled) != 0 ]]; then
    echo "ON (already on before this run: every arm's cost includes the stats' own)"; else echo off; fi)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Programs on the same tracepoint that another process keeps loaded slow every arm alike,
# the baseline included: say which and whose.
for id in $(prog_ids '^(tc_|inet_sock_set_s)'); do
  # grep fails on the fds of processes that exit meanwhile: ignore that.
  holders=$({ grep -ls "^prog_id:[[:space:]]*$id\$" /proc/[0-9]*/fdinfo/* 2>/dev/null || true; } |
    cut -d/ -f3 | sort -u | while read -r p; do echo -n " $p($(cat "/proc/$p/comm" 2>/dev/null))"; done)
  echo "warning: BPF program $id ($(bpftool prog show id "$id" | head -n1 | awk '{ print $4 }')) is" \
    "already loaded, held by pid${holders:- ?}: every arm, the baseline too, pays for it"
done
# Warm-up storm, discarded.
storm 1 >/dev/null
echo
# shellcheck disable=SC2059
printf "$row_format" "${row_header[@]}"
backend_seen=""
for ((r = 1; r <= rounds; r++)); do
  for arm in "${arm_list[@]}"; do
    run_round "$r" "$arm"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $backend_seen ]]; then echo "exporter probe backend: $backend_seen"; fi
if [[ -s $tmp/storm.err ]]; then
  echo "connect errors reported by the storm:"
  sort "$tmp/storm.err" | uniq -c | sed 's/^/  /'
fi

# Medians per arm, and each traced arm against the baseline: median over median; best
# over best (other load only ever takes throughput away, so each arm's best round is the
# one least disturbed); and the median of the per-round ratios (each traced round against
# the same round's baseline, which cancels slow drifts of the machine's other load).
echo
awk -v arms="$arms" -v rounds="$rounds" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++)
      for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  # Median (or, with best set, the maximum or minimum) of column c of arm a over the rounds
  # where it is a number; "-" when there is none.
  function stat(a, c, fmt, best,   r, n, v, b) {
    n = 0
    for (r = 1; r <= rounds; r++) if ((a SUBSEP r SUBSEP c) in x && x[a, r, c] != "-") v[++n] = x[a, r, c]
    if (!n) return "-"
    if (!best) return sprintf(fmt, median(v, n))
    b = v[1]
    for (r = 2; r <= n; r++) if (best == "max" ? v[r] > b : v[r] < b) b = v[r]
    return sprintf(fmt, b)
  }
  # Median of the per-round ratios arm/baseline of column c (baseline/arm when invert).
  function ratios(a, c, invert,   r, v, s) {
    s = ""
    for (r = 1; r <= rounds; r++) {
      v[r] = x["baseline", r, c] > 0 && x[a, r, c] > 0 ? x[a, r, c] / x["baseline", r, c] : 0
      if (invert && v[r] > 0) v[r] = 1 / v[r]
      s = s sprintf(" %.3f", v[r])
    }
    return sprintf("%.3f (rounds:%s)", median(v, rounds), s)
  }
  { for (c = 3; c <= NF; c++) x[$2, $1, c] = $c }
  END {
    k = split(arms, A, ",")
    # Column 20: the storm CPU plus the tracer process CPU, per connect.
    for (i = 1; i <= k; i++)
      for (r = 1; r <= rounds; r++)
        x[A[i], r, 20] = x[A[i], r, 4] + (x[A[i], r, 13] == "-" ? 0 : x[A[i], r, 13])
    printf "%-9s %10s %9s %9s %7s %7s %8s %7s %12s %12s\n", "median", "connects/s", "cpu_us/c",
           "+tracer", "runs/c", "ns/run", "ns/c", "others", "best conn/s", "best +tracer"
    for (i = 1; i <= k; i++) {
      a = A[i]
      printf "%-9s %10s %9s %9s %7s %7s %8s %7s %12s %12s\n", a, stat(a, 3, "%.0f"),
             stat(a, 4, "%.2f"), stat(a, 20, "%.2f"), stat(a, 9, "%.2f"), stat(a, 10, "%.1f"),
             stat(a, 11, "%.1f"), stat(a, 15, "%.2f"), stat(a, 3, "%.0f", "max"),
             stat(a, 20, "%.2f", "min")
    }
    for (i = 1; i <= k; i++) {
      a = A[i]; m = 0
      for (r = 1; r <= rounds; r++) if (x[a, r, 12] != "-") m += x[a, r, 12]
      if (a != "baseline") printf "%s: %d program runs skipped by the kernel (recursion_misses)\n", a, m
    }
    if (!(("baseline" SUBSEP 1 SUBSEP 3) in x)) exit
    print ""
    for (i = 1; i <= k; i++) {
      a = A[i]
      if (a == "baseline") continue
      printf "%s/baseline throughput:  median/median %.3f, best/best %.3f, per-round median %s\n",
             a, stat(a, 3, "%f") / stat("baseline", 3, "%f"),
             stat(a, 3, "%f", "max") / stat("baseline", 3, "%f", "max"), ratios(a, 3, 0)
      printf "%s/baseline CPU/connect: median/median %.3f, best/best %.3f, per-round median %s\n",
             a, stat("baseline", 20, "%f") / stat(a, 20, "%f"),
             stat("baseline", 20, "%f", "min") / stat(a, 20, "%f", "min"), ratios(a, 20, 1)
    }
  }' "$results"
cat <<'EOF'

connects/s  completed connect()+close() per second, all storm threads together.
cpu_us/c    the storm's CPU time (user+system: both ends of each connection and their
            loopback softirq work) per connect; +tracer adds the tracer process's own CPU
            (the exporter's drains and scrapes, bpftrace's userspace). Less sensitive to
            the machine's other load than connects/s. "CPU/connect" ratios are inverted
            (baseline/arm) so that, like throughput, 1.000 means free.
prog_runs   runs of the arm's BPF program during the storm: every inet_sock_set_state
            event on the host (both ends of each connection, other processes' traffic).
ns/run ns/c its bpf_stats run time per run and per storm connect: the program's own time,
            not what the kernel spends calling it (here more than the program itself:
            build/tests/bench/toggle/toggle_alone_bench --peer measures everything, side by side).
misses      runs the kernel skipped because the program was already running on that CPU
            (recursion_misses).
counted     connects to the storm's port that the tracer counted (= connects + errors when
            nothing was missed).
lost        (exporter) connects to the storm's address whose outcome the exporter never saw
            (attempts - failures - established): 0 when no outcome event was skipped.
others      CPUs' worth of time the rest of the machine used during the storm (not the
            storm, not the tracer): rounds where it is high measured the neighbours too.
EOF
