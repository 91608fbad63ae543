#!/bin/bash
# Runs inside the VM, as root, with systemd as PID 1 and Debian's own kernel: installs the
# package and checks the service's whole life. Every check writes one line to
# results/summary.txt ("PASS name: detail" or "FAIL name: detail"); the host asserts them.
# All traffic is loopback inside the VM. Every wait is a bounded poll.
#
#   in-vm-test.sh SHARE_DIR      (the 9p share: the .deb in, results/ out)
set -u

share=$1
results=$share/results
mkdir -p "$results"
summary=$results/summary.txt
: >"$summary"
unit=tcpconnect-exporter
metrics_port=9476
failed=0

pass() { echo "PASS $1${2:+: $2}" | tee -a "$summary"; }
fail() {
  echo "FAIL $1${2:+: $2}" | tee -a "$summary"
  failed=1
}
# check NAME DETAIL COMMAND...: passes when the command succeeds.
check() {
  local name=$1 detail=$2
  shift 2
  if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
# Polls a command up to N times, 0.5 s apart.
wait_until() {
  local n=$1
  shift
  for ((i = 0; i < n; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  return 1
}
prop() { systemctl show -p "$1" --value "$unit"; }
main_pid() { prop MainPID; }
is_active() { [[ $(systemctl is-active "$unit") == active ]]; }
scrape() { curl -sf --max-time 10 "http://127.0.0.1:$metrics_port/metrics"; }
# The value of the one sample of METRIC whose labels contain every FRAGMENT (0 if none).
sample() {
  local metric=$1
  shift
  scrape | awk -v m="$metric{" -v frags="$*" '
    BEGIN { n = split(frags, f, " ") }
    index($0, m) == 1 {
      ok = 1
      for (i = 1; i <= n; i++) if (!index($0, f[i])) ok = 0
      if (ok) { print $NF; found = 1; exit }
    }
    END { if (!found) print 0 }'
}
attempts() { sample tcpconnect_connects_total "dport=\"$1\""; }
# connect_n PORT N: N real connects to 127.0.0.1:PORT (each one SYN, whatever the answer).
connect_n() {
  local port=$1 n=$2
  for ((i = 0; i < n; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  done
}
journal_since() { journalctl -u "$unit" --since "@$1" -o cat --no-pager; }
our_programs() { bpftool prog show 2>/dev/null | grep -cE 'name tc_(tp_btf|raw_tp|tracepoint)'; }

echo "kernel $(uname -r), $(systemctl --version | head -1)"
pass environment "kernel $(uname -r); $(systemctl --version | head -1); cgroup2 at $(findmnt -n -t cgroup2 -o TARGET | head -1)"
# systemd's own view of the fd store (debug level) goes to the journal from now on.
systemd-analyze log-level debug

# A listener for established connects, and a port nobody listens on.
listen_port=7301
closed_port=7302
nc -lk 127.0.0.1 "$listen_port" >/dev/null 2>&1 &
wait_until 20 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$listen_port) 2>/dev/null" || fail listener "nc did not listen"

# --- install ----------------------------------------------------------------------------
t0=$(date +%s)
deb=$(ls "$share"/tcpconnect-exporter_*.deb)
if dpkg -i "$deb" >"$results/dpkg-install.log" 2>&1; then
  pass install "dpkg -i $(basename "$deb")"
else
  fail install "dpkg -i failed: $(tail -3 "$results/dpkg-install.log" | tr '\n' ' ')"
  exit 1
fi
check user "system user made by postinst" getent passwd tcpconnect-exporter
config_mode=$(stat -c '%a %U:%G' /etc/tcpconnect_exporter/config.yaml)
check config-mode "config.yaml readable by the service user only: $config_mode" \
  test "$config_mode" = "640 root:tcpconnect-exporter"
verify=$(systemd-analyze verify "/lib/systemd/system/$unit.service" 2>&1)
check unit-verify "systemd-analyze verify: ${verify:-clean}" test -z "$verify"
score=$(systemd-analyze security "$unit.service" 2>/dev/null | tail -1)
pass unit-security "${score#→ }"

# --- start: active means READY=1 (Type=notify), sent once the probe is attached --------
wait_until 120 is_active
check start "systemctl is-active: $(systemctl is-active $unit), status: $(prop StatusText)" is_active
check ready "READY sent after the port was bound" \
  bash -c "systemctl show -p StatusText --value $unit | grep -q '^serving on port $metrics_port'"
check enabled "enabled by the package" systemctl is-enabled -q "$unit"
pid=$(main_pid)
check user-process "runs as tcpconnect-exporter" \
  test "$(ps -o user= -p "$pid" | tr -d ' ')" = tcpconnect-exporter
caps_ok=1
caps=""
for task in /proc/"$pid"/task/*; do
  eff=$(awk '/^CapEff/ {print $2}' "$task/status")
  caps="$caps $eff"
  [[ $eff == 0000008000000000 ]] || caps_ok=0
done
check capabilities "CapEff of every thread is CAP_BPF only:$caps" test $caps_ok = 1
first_prog=$(bpftool prog show 2>/dev/null | awk '/name tc_(tp_btf|raw_tp|tracepoint)/ {sub(":", "", $1); print $1; exit}')
pass probe "program id $first_prog; $(scrape | grep -o '^tcpconnect_probe_info{[^}]*probe="connect"[^}]*}' | head -1)"

# --- exact counts ---------------------------------------------------------------------
connect_n $listen_port 20
connect_n $closed_port 7
got=$(attempts $listen_port)
check count-established "20 connects to a listener: /metrics says $got" test "$got" = 20
got=$(attempts $closed_port)
refused=$(sample tcpconnect_connect_failures_total "dport=\"$closed_port\"" 'reason="refused"')
check count-refused "7 connects to a closed port: /metrics says $got, refused $refused" \
  test "$got" = 7 -a "$refused" = 7
# The latency runs from the SYN's send time as the socket keeps it (read from the socket at
# the outcome on this kernel too): each established connect observes a loopback time.
lat_n=$(sample tcpconnect_connect_duration_seconds_count)
lat_s=$(sample tcpconnect_connect_duration_seconds_sum)
check latency "established connects timed: count $lat_n, sum $lat_s s" \
  awk -v n="${lat_n:-0}" -v s="${lat_s:--1}" 'BEGIN { exit !(n >= 20 && s > 0 && s / n < 0.5) }'

# --- handshake health: a listener whose accept queue is full drops SYNs -----------------
# systemd holds the listening socket (backlog 1: two connections fit) for a service that
# never accepts. Two connects fill the queue; three more wait in SYN_SENT, their SYNs
# dropped and retransmitted, until the socket is closed and their next SYN is refused.
synq_port=7303
cat >/run/systemd/system/tcpx-synq.socket <<UNIT
[Socket]
ListenStream=127.0.0.1:$synq_port
Backlog=1
UNIT
printf '[Service]\nExecStart=/bin/sleep infinity\n' >/run/systemd/system/tcpx-synq.service
systemctl daemon-reload
systemctl start tcpx-synq.socket
connect_n $synq_port 2
waiters=()
for ((w = 0; w < 3; w++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$synq_port") 2>/dev/null &
  waiters+=($!)
done
in_flight() { sample tcpconnect_connects_in_flight "dport=\"$synq_port\""; }
wait_until 20 test "$(in_flight)" = 3
got=$(in_flight)
sleep 2  # the first retransmission is due after 1 s
still=$(in_flight)
check syn-in-flight "3 connects waiting on a full accept queue: in flight $got, after 2 s $still" \
  test "$got" = 3 -a "$still" = 3
systemctl stop tcpx-synq.socket tcpx-synq.service
for waiter in "${waiters[@]}"; do
  for ((i = 0; i < 40; i++)); do
    kill -0 "$waiter" 2>/dev/null || break
    sleep 0.5
  done
done
wait_until 20 test "$(in_flight)" = 0
retrans=$(sample tcpconnect_syn_retransmits_total "dport=\"$synq_port\"")
check syn-retransmits "after the listener closed: in flight $(in_flight), SYN retransmissions $retrans" \
  test "$(in_flight)" = 0 -a "${retrans:-0}" -ge 3
rm -f /run/systemd/system/tcpx-synq.socket /run/systemd/system/tcpx-synq.service
systemctl daemon-reload

# --- DNS: the capture dns.capture=auto chooses (cgroup_skb) names the connects
# Real responses (dnsmasq's, recorded in tests/dns/fixtures) with their last A record
# pointed at a loopback address of the VM, sent from port 53 to local sockets over UDP
# and TCP, each after its client asked the question it answers; then connects to those
# addresses must carry the question's name. The same answer sent to a socket that asked
# nothing must name nothing.
fixtures=$share/fixtures
udp_addr=127.0.53.10 tcp_addr=127.0.53.11 forged_addr=127.0.53.12 named_port=7303
# with_a IN OUT ADDR: the response IN with its last 4 bytes (the A record's data) = ADDR.
with_a() {
  local size
  size=$(stat -c %s "$1")
  { head -c $((size - 4)) "$1"; printf "$(printf '\\x%02x' ${3//./ })"; } >"$2"
}
with_a "$fixtures/a_udp.bin" /run/tcpx-a-udp.bin $udp_addr
with_a "$fixtures/a_udp.bin" /run/tcpx-forged-udp.bin $forged_addr
with_a "$fixtures/cname_chain_tcp.bin" /run/tcpx-cname-tcp.bin $tcp_addr
nc -lk $udp_addr $named_port >/dev/null 2>&1 &
nc -lk $tcp_addr $named_port >/dev/null 2>&1 &
nc -lk $forged_addr $named_port >/dev/null 2>&1 &
dns_method=$(scrape | sed -n 's/^tcpconnect_dns_capture_info{method="\([a-z_]*\)"}.*/\1/p')
check dns-capture "tcpconnect_dns_capture_info method=${dns_method:-absent} (kernel $(uname -r)); $(journalctl -u "$unit" --no-pager -o cat | grep -m2 'DNS capture' | tr '\n' ' ')" \
  test "$dns_method" = cgroup_skb
# A forged answer: from port 53 to a socket that never asked (a listener on 5354).
nc -lu 127.0.0.1 5354 >/dev/null 2>&1 &
forged_victim=$!
sleep 0.5
nc -u -w1 -p 53 127.0.0.1 5354 </run/tcpx-forged-udp.bin
# UDP: a client on 127.0.0.1:5353 asks 127.0.0.1:53, which answers once asked (netcat's
# UDP listener sends its input only after the first datagram arrives).
nc -u -l 127.0.0.1 53 </run/tcpx-a-udp.bin >/dev/null 2>&1 &
udp_server=$!
sleep 0.5
nc -u -w1 -p 5353 127.0.0.1 53 <"$fixtures/a_udp.query" >/dev/null
# TCP: a server on 127.0.0.1:53 reads the question, then writes the answer (with its
# length prefix) to the client.
tcp_query=$(stat -c %s "$fixtures/cname_chain_tcp.query")
tcp_answer=$(stat -c %s /run/tcpx-cname-tcp.bin)
rm -f /run/tcpx-fifo && mkfifo /run/tcpx-fifo
nc -N -l 127.0.0.1 53 </run/tcpx-fifo | { head -c "$tcp_query" >/dev/null; cat /run/tcpx-cname-tcp.bin; } >/run/tcpx-fifo &
tcp_server=$!
wait_until 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/53 && cat '$fixtures/cname_chain_tcp.query' >&3 && timeout 5 head -c $tcp_answer <&3 >/dev/null" 2>/dev/null
dns_parsed() { [[ $(sample tcpconnect_dns_responses_total 'rcode="NOERROR"' 'qtype="A"') -ge 2 ]]; }
wait_until 20 dns_parsed
check dns-responses "responses parsed: $(scrape | grep '^tcpconnect_dns_responses_total' | tr '\n' ' ')" dns_parsed
kill $forged_victim $udp_server $tcp_server 2>/dev/null
# tcp_connect_n ADDR PORT N
tcp_connect_n() { for ((i = 0; i < $3; i++)); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; done; }
tcp_connect_n $udp_addr $named_port 5
tcp_connect_n $tcp_addr $named_port 3
got=$(sample tcpconnect_connects_total "daddr=\"$udp_addr\"" 'dns_name="web.example.test"')
check dns-named-udp "5 connects to $udp_addr, answered over UDP for web.example.test: /metrics says $got" \
  test "$got" = 5
got=$(sample tcpconnect_connects_total "daddr=\"$tcp_addr\"" 'dns_name="alias.example.test"')
check dns-named-tcp "3 connects to $tcp_addr, answered over TCP for alias.example.test (CNAME chain): /metrics says $got" \
  test "$got" = 3
tcp_connect_n $forged_addr $named_port 2
got=$(sample tcpconnect_connects_total "daddr=\"$forged_addr\"" 'dns_name="localhost"')
check dns-forged-unnamed "2 connects to $forged_addr, which only a forged answer named: dns_name=localhost on $got" \
  test "$got" = 2
rejected=$(sample tcpconnect_dns_responses_rejected_total 'reason="unsolicited"')
check dns-forged-rejected "unsolicited responses rejected: $rejected" test "${rejected:-0}" -ge 1
lost=$(sample tcpconnect_dns_events_lost_total)
check dns-lost "DNS events lost: $lost" test "$lost" = 0

# --- DNS: the fentry capture, configured explicitly (auto never picks it), names a UDP
# lookup's connects. An exporter beside the service with dns.capture: fentry.
sed 's/^  capture: auto/  capture: fentry/' /etc/tcpconnect_exporter/config.yaml >/run/tcpx-fentry.yaml
/usr/bin/tcpconnect_exporter --config.file /run/tcpx-fentry.yaml --web.listen-address 127.0.0.1:9478 >/run/tcpx-fentry.log 2>&1 &
beside=$!
beside_scrape() { curl -sf --max-time 5 http://127.0.0.1:9478/metrics; }
beside_up() { beside_scrape | grep -q '^tcpconnect_dns_capture_info{'; }
wait_until 60 beside_up
fentry_method=$(beside_scrape | sed -n 's/^tcpconnect_dns_capture_info{method="\([a-z_]*\)"}.*/\1/p')
check dns-fentry-capture "dns.capture: fentry reports method=${fentry_method:-absent}; $(grep -m2 'DNS capture' /run/tcpx-fentry.log | tr '\n' ' ')" \
  test "$fentry_method" = fentry
if [[ $fentry_method != fentry ]]; then
  # Why not: libbpf's and the verifier's words, from an exporter at debug level.
  timeout 15 /usr/bin/tcpconnect_exporter --config.file /run/tcpx-fentry.yaml --log.level debug \
    --web.listen-address 127.0.0.1:9479 >"$results/fentry-debug.log" 2>&1
fi
fentry_addr=127.0.53.13
with_a "$fixtures/a_udp.bin" /run/tcpx-a-fentry.bin $fentry_addr
nc -lk $fentry_addr $named_port >/dev/null 2>&1 &
fentry_listener=$!
nc -u -l 127.0.0.1 53 </run/tcpx-a-fentry.bin >/dev/null 2>&1 &
udp_server=$!
sleep 0.5
nc -u -w1 -p 5355 127.0.0.1 53 <"$fixtures/a_udp.query" >/dev/null
kill $udp_server 2>/dev/null
fentry_named() {
  [[ $(beside_scrape | grep '^tcpconnect_connects_total{' | grep "daddr=\"$fentry_addr\"" |
    grep -c 'dns_name="web.example.test"') -ge 1 ]]
}
tcp_connect_n $fentry_addr $named_port 2
wait_until 20 fentry_named
check dns-fentry-named-udp "2 connects to $fentry_addr, answered over UDP for web.example.test, on the fentry exporter: $(beside_scrape | grep "^tcpconnect_connects_total{.*daddr=\"$fentry_addr\"" | tr '\n' ' ')" \
  fentry_named
kill $fentry_listener 2>/dev/null

# --- DNS capture cost on ordinary traffic (kernel.bpf_stats_enabled; figures, no limit) --
# Datagrams from a port that is not DNS, each received by a process, and a TCP stream,
# with the fentry exporter beside the service (cgroup_skb), so that both captures'
# programs run on the same traffic: each DNS program's runs and BPF ns per run.
# Under TCG every figure is inflated many times over and moved by the host's load:
# compare the programs within this run, do not quote them as a real CPU's.
dns_prog_stats() {
  bpftool prog show 2>/dev/null | awk '/name tc_dns_/ { n = $1 $4; for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } print n, t + 0, c + 0; t = c = 0 }'
}
beside_ok=no
[[ $fentry_method == fentry ]] && beside_ok=yes
sysctl -qw kernel.bpf_stats_enabled=1
before=$(dns_prog_stats)
nc -lu 127.0.0.1 9911 >/dev/null 2>&1 &
cost_rx=$!
sleep 0.3
bash -c 'exec 3>/dev/udp/127.0.0.1/9911; for ((i = 0; i < 2000; i++)); do printf x >&3; done'
sleep 0.5
nc -l 127.0.0.1 9912 >/dev/null 2>&1 &
cost_tcp=$!
sleep 0.3
head -c 1000000 /dev/zero | nc -N 127.0.0.1 9912
kill $cost_rx $cost_tcp 2>/dev/null
after=$(dns_prog_stats)
sysctl -qw kernel.bpf_stats_enabled=0
kill $beside 2>/dev/null
wait $beside 2>/dev/null
cost=$(join <(sort <<<"$before") <(sort <<<"$after") |
  awk '{ runs = $5 - $3; ns = $4 - $2; printf "%s %d runs %.0f ns/run; ", $1, runs, runs ? ns / runs : 0 }')
echo "$cost" >"$results/dns-cost.txt"
check dns-cost "2000 non-DNS datagrams sent (the receiver reads those its buffer kept), a 1 MB TCP stream; cgroup_skb (the service) and fentry (an exporter beside it, up: $beside_ok): $cost" \
  test -n "$cost" -a "$beside_ok" = yes

# --- reload -----------------------------------------------------------------------------
config=/etc/tcpconnect_exporter/config.yaml
cp "$config" "$results/config.orig.yaml"
t=$(date +%s)
sed -i 's/^  max_series: .*/  max_series: 5000/; s/^  drain_interval: .*/  drain_interval: 2s/' "$config"
systemctl reload "$unit"
reloaded() { journal_since "$t" | grep -q "configuration reloaded"; }
wait_until 60 reloaded
check reload "changed config reloaded, same process" \
  bash -c "journalctl -u $unit --since @$t -o cat | grep -q 'configuration reloaded' && test \"\$(systemctl show -p MainPID --value $unit)\" = $pid"
t=$(date +%s)
printf 'limits:\n  max_series: many\n' >"$config"
systemctl reload "$unit"
reload_failed() { journal_since "$t" | grep -qE "reload (failed|rejected)"; }
wait_until 60 reload_failed
check reload-invalid "an invalid config is refused and the service keeps running" \
  bash -c "journalctl -u $unit --since @$t -o cat | grep -qE 'reload (failed|rejected)' && systemctl is-active -q $unit && test \"\$(systemctl show -p MainPID --value $unit)\" = $pid"
cp "$results/config.orig.yaml" "$config"
systemctl reload "$unit"

# --- restart: connects made while no process of the service runs ---------------------
# ExecStartPre runs after the old process has exited and before the new one starts: the
# connects it makes fall exactly into the gap. It appends how many it made to a file.
gap_count=/run/tcpx-gap-connects
mkdir -p "/run/systemd/system/$unit.service.d"
cat >/run/tcpx-gap.sh <<EOF
exec 2>>/run/tcpx-gap.err
for ((i = 0; i < 9; i++)); do (exec 3<>/dev/tcp/127.0.0.1/$listen_port); done
echo 9 >>$gap_count
exit 0
EOF
printf '[Service]\nExecStartPre=+/bin/bash /run/tcpx-gap.sh\n' >"/run/systemd/system/$unit.service.d/gap.conf"
systemctl daemon-reload
gaps() { awk '{s += $1} END {print s + 0}' "$gap_count" 2>/dev/null || echo 0; }
# A connect loop that runs across the whole restart, counting what it made.
loop_count=/run/tcpx-loop-connects
background_connects() {
  local n=0
  while [[ ! -e /run/tcpx-loop-stop ]]; do
    (exec 3<>"/dev/tcp/127.0.0.1/$listen_port") 2>/dev/null
    n=$((n + 1))
  done
  echo $n >"$loop_count"
}

before_scrape=$(scrape)
before=$(attempts $listen_port)
rm -f /run/tcpx-loop-stop "$loop_count"
background_connects &
loop_pid=$!
t=$(date +%s)
systemctl restart "$unit"
wait_until 120 is_active
touch /run/tcpx-loop-stop
wait "$loop_pid"
new_pid=$(main_pid)
if ! is_active; then
  systemctl status "$unit" --no-pager >"$results/status-after-restart.txt" 2>&1
  journalctl -u "$unit" -o short-monotonic --no-pager >"$results/journal.txt"
  cp /run/tcpx-gap.err "$results/" 2>/dev/null
fi
expected=$((before + $(gaps) + $(cat "$loop_count")))
got=$(attempts $listen_port)
check restart-new-process "systemctl restart: pid $pid -> $new_pid" test "$new_pid" != "$pid"
check restart-adopted "the new process adopted the probe: $(journal_since "$t" | grep -o 'adopted.*' | head -1)" \
  bash -c "journalctl -u $unit --since @$t -o cat | grep -q 'adopted'"
check restart-counts "before $before + in the gap $(gaps) + during the restart $(cat $loop_count) = $expected, /metrics says $got" \
  test "$got" = "$expected"
check restart-same-program "program id before $first_prog, after $(bpftool prog show | awk '/name tc_/ {sub(":", "", $1); print $1; exit}')" \
  test "$(our_programs)" = 1 -a "$(bpftool prog show | awk '/name tc_/ {sub(":", "", $1); print $1; exit}')" = "$first_prog"
# No counter of the earlier scrape went back.
after_scrape=$(scrape)
went_back=$(awk 'NR == FNR { if ($1 ~ /^tcpconnect_connect(s|_failures)_total\{/) v[$1] = $2; next }
  ($1 in v) && $2 + 0 < v[$1] + 0 { print $1 " " v[$1] " -> " $2 }' \
  <(echo "$before_scrape") <(echo "$after_scrape"))
check restart-monotonic "no counter went back${went_back:+: $went_back}" test -z "$went_back"

# --- crash: kill -9, Restart=on-failure ------------------------------------------------
pid=$(main_pid)
restarts=$(prop NRestarts)
before=$(attempts $listen_port)
gaps_before=$(gaps)
t=$(date +%s)
[[ $pid =~ ^[1-9][0-9]*$ ]] && kill -9 "$pid"
restarted() { [[ $(main_pid) != "$pid" && $(main_pid) != 0 ]] && is_active; }
wait_until 120 restarted
connect_n $listen_port 4
expected=$((before + $(gaps) - gaps_before + 4))
got=$(attempts $listen_port)
check crash-restarted "kill -9 $pid: systemd restarted it as $(main_pid), NRestarts $restarts -> $(prop NRestarts)" \
  test "$(prop NRestarts)" = $((restarts + 1))
check crash-adopted "the new process adopted the probe" \
  bash -c "journalctl -u $unit --since @$t -o cat | grep -q 'adopted'"
check crash-counts "before $before + in the gap $(($(gaps) - gaps_before)) + after 4 = $expected, /metrics says $got" \
  test "$got" = "$expected"

# --- stop: the store is released, nothing of ours stays attached ------------------------
systemctl stop "$unit"
check stop "systemctl stop: $(systemctl is-active $unit)" bash -c "! systemctl is-active -q $unit"
check stop-detached "programs of ours attached after stop: $(our_programs)" test "$(our_programs)" = 0
check stop-dns-detached "DNS programs attached after stop: $(bpftool prog show 2>/dev/null | grep -c 'name tc_dns_')" \
  bash -c "! bpftool prog show 2>/dev/null | grep -q 'name tc_dns_'"
check stop-program-gone "program $first_prog freed" bash -c "! bpftool prog show id $first_prog >/dev/null 2>&1"
# Nothing counts while stopped (not even ExecStartPre's connects: no probe is attached
# yet), and the next start begins from zero.
connect_n $listen_port 5
systemctl start "$unit"
wait_until 120 is_active
connect_n $listen_port 2
got=$(attempts $listen_port)
check stop-fresh-start "after stop + start the count starts from zero: 2 connects, /metrics says $got" \
  test "$got" = 2
rm -rf "/run/systemd/system/$unit.service.d"
systemctl daemon-reload

# --- logs ----------------------------------------------------------------------------
journalctl -u "$unit" -o short-monotonic --no-pager >"$results/journal.txt"
journalctl _PID=1 -o cat --no-pager | grep -iE "tcpconnect.*(fd|store|descriptor)" >"$results/systemd-fdstore.txt"
# The daemon's own lines at warning level or worse, less the invalid reload provoked above.
bad=$(journalctl -u "$unit" -o cat --no-pager SYSLOG_IDENTIFIER=tcpconnect_exporter |
  grep -E '^(warning|error|critical): ' | grep -vE 'reload (failed|rejected)|max_series')
check journal-clean "daemon warnings/errors: ${bad:-none}" test -z "$bad"
sysd_bad=$(grep -iE 'limit|fail|refus|not allowed|ignor' "$results/systemd-fdstore.txt" || true)
check journal-systemd "systemd complaints about the fd store: ${sysd_bad:-none}" test -z "$sysd_bad"

# --- diagnostics (not checks): the daemon at debug level, as the unit runs it and as root
[[ -n $bad ]] && for who in tcpconnect-exporter root; do
  systemd-run --wait --quiet --collect --unit "tcpx-diag-$who" -p User=$who \
    -p AmbientCapabilities="CAP_BPF CAP_PERFMON CAP_NET_ADMIN" -p RuntimeMaxSec=8 \
    /usr/bin/tcpconnect_exporter --web.listen-address 127.0.0.1:9477 --log.level debug >/dev/null 2>&1
  journalctl -u "tcpx-diag-$who" -o cat --no-pager >"$results/diag-$who.txt"
done

# --- remove and purge ------------------------------------------------------------------
dpkg -r tcpconnect-exporter >"$results/dpkg-remove.log" 2>&1
check remove "dpkg -r stops the service and detaches: $(our_programs) programs" \
  bash -c "! systemctl is-active -q $unit && test \"\$(bpftool prog show 2>/dev/null | grep -cE 'name tc_(tp_btf|raw_tp|tracepoint)')\" = 0"
dpkg --purge tcpconnect-exporter >"$results/dpkg-purge.log" 2>&1
left=$(find / -xdev \( -path /proc -o -path /sys -o -path /mnt/share -o -path /run/log \) -prune -o \
  \( -iname '*tcpconnect*' -print \) 2>/dev/null | grep -v '^/run/tcpx' || true)
check purge-files "files left: ${left:-none}" test -z "$left"
check purge-user "user and group removed" bash -c "! getent passwd tcpconnect-exporter && ! getent group tcpconnect-exporter"
check purge-dpkg "dpkg forgot it" bash -c "! dpkg -s tcpconnect-exporter >/dev/null 2>&1"

echo "in-VM test finished in $(($(date +%s) - t0)) s"
exit $failed
