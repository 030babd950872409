#!/bin/bash
# `skbpf map` on a 1-million-element hash map (issue 9, DESIGN.md section 4):
#  1. `skbpf map dump` with no dataplane (the pinned file read directly),
#     typed from BTF, --hex and --json; peer: `bpftool map dump` of a kernel
#     hash map with the same key/value sizes and the same 1M elements.
#  2. The same dumps over the control socket of a running `skbpf run`.
#  3. The forwarding rate lost while CLI processes do map lookups (and
#     dumps) against the running dataplane, from `skbpf stats` counters.
# Usage: bench/map_dump_bench.sh BUILD_DIR [N]   (root, for the kernel map)
# Prints a Markdown section for bench/RESULTS.md on stdout.
set -euo pipefail
build=$(realpath "${1:?usage: map_dump_bench.sh BUILD_DIR [N]}")
n=${2:-1048576}
skbpf="$build/tools/skbpf"
fill="$build/bench/map_fill"
obj="$build/bench/counters_1m.o"
work=$(mktemp -d /tmp/skbpf-map-bench.XXXXXX)
pin="$work/pin"
kpin=/sys/fs/bpf/skbpf_bench_flows_$$
dp=""
cleanup() {
  [ -n "$dp" ] && kill "$dp" 2>/dev/null && wait "$dp" 2>/dev/null || true
  rm -f "$kpin"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 0700 "$pin"

# Seconds taken by a command (its output discarded), best of 3.
best_of_3() {
  local best="" t
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$@" > /dev/null
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%.3f' "$best"
}

"$fill" skbpf "$obj" flows "$pin/flows" "$n"
count=$("$skbpf" map dump flows --pin-dir "$pin" --hex | tail -1)
file_typed=$(best_of_3 "$skbpf" map dump flows --pin-dir "$pin")
file_hex=$(best_of_3 "$skbpf" map dump flows --pin-dir "$pin" --hex)
file_json=$(best_of_3 "$skbpf" map dump flows --pin-dir "$pin" --json)

peer="(bpftool unavailable)"
peer_hex=""
if command -v bpftool > /dev/null; then
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
  if "$fill" kernel "$kpin" "$n" 2> "$work/kernel.err"; then
    peer_hex=$(best_of_3 bpftool map dump pinned "$kpin")
    peer_json=$(best_of_3 bpftool -j map dump pinned "$kpin")
    peer="bpftool map dump: ${peer_hex} s, bpftool -j: ${peer_json} s"
  else
    peer="(kernel map refused: $(cat "$work/kernel.err"))"
  fi
fi

# The running dataplane: counters_1m.o on two net_null ports; it adopts the
# pinned `flows`.
cat > "$work/c.yaml" <<EOF
ports:
  - {name: n0, ifindex: 2, device: net_null_mb0, next_hop: n1}
  - {name: n1, ifindex: 3, device: net_null_mb1, next_hop: n0}
programs:
  n0:
    ingress:
      - {object: $obj, program: count, priority: 1}
EOF
"$skbpf" run "$work/c.yaml" --pin-dir "$pin" > "$work/run.out" 2>&1 &
dp=$!
for _ in $(seq 100); do
  "$skbpf" stats --json --pin-dir "$pin" > /dev/null 2>&1 && break
  sleep 0.1
done
sock_typed=$(best_of_3 "$skbpf" map dump flows --pin-dir "$pin")
sock_hex=$(best_of_3 "$skbpf" map dump flows --pin-dir "$pin" --hex)

rx() { "$skbpf" stats --json --pin-dir "$pin" | jq '.totals.rx_packets'; }
# Packets per second over S seconds while "$@" runs in a loop (none: idle).
rate_during() {
  local s=$1
  shift
  local loop=""
  if [ $# -gt 0 ]; then
    (while :; do "$@" > /dev/null 2>&1; done) &
    loop=$!
    sleep 0.5
  fi
  local r0 t0 r1 t1
  r0=$(rx)
  t0=$(date +%s.%N)
  sleep "$s"
  r1=$(rx)
  t1=$(date +%s.%N)
  if [ -n "$loop" ]; then kill "$loop"; wait "$loop" 2> /dev/null || true; fi
  echo "($r1 - $r0) / ($t1 - $t0)" | bc -l
}
# Lookups per second one CLI loop achieves.
lookups=0
lookup_loop() {
  local until=$(($(date +%s) + $1)) k=0
  while [ "$(date +%s)" -lt "$until" ]; do
    "$skbpf" map lookup flows key saddr=10.0.0.$((k % 200 + 1)) daddr=10.1.0.1 \
      sport=$((1024 + k % 200 + 1)) dport=80 proto=6 --pin-dir "$pin" > /dev/null
    k=$((k + 1))
  done
  echo "$k"
}
idle1=$(rate_during 5)
lk=$(lookup_loop 5 > "$work/lookups" & sleep 0.2; rate_during 4.5; wait)
lookups=$(cat "$work/lookups")
idle2=$(rate_during 5)
dumping=$(rate_during 5 "$skbpf" map dump flows --pin-dir "$pin" --hex)
kill "$dp"
wait "$dp" 2> /dev/null || true
dp=""

idle=$(echo "($idle1 + $idle2) / 2" | bc -l)
pct() { echo "scale=2; 100 * (1 - $1 / $idle)" | bc -l; }
mpps() { printf '%.2f' "$(echo "$1 / 1000000" | bc -l)"; }
ratio=""
[ -n "$peer_hex" ] && ratio=$(printf '%.2f' "$(echo "$peer_hex / $file_hex" | bc -l)")

cat <<EOF
### skbpf map dump / CLI lookups under forwarding — $(date -u '+%Y-%m-%d %H:%M') UTC

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); \`--no-huge\`
- Command: \`bench/map_dump_bench.sh $build $n\`
- Map: \`flows\` of progs/counters.c built with FLOWS_MAX=1048576 (hash, 16-byte key, 16-byte value), ${count}.

| dump of ${n} elements (best of 3, output to /dev/null) | seconds |
|---|---|
| \`skbpf map dump\`, no dataplane (file), typed from BTF | ${file_typed} |
| \`skbpf map dump --hex\`, no dataplane | ${file_hex} |
| \`skbpf map dump --json\`, no dataplane | ${file_json} |
| \`skbpf map dump\` over the control socket, dataplane forwarding | ${sock_typed} |
| \`skbpf map dump --hex\` over the control socket, dataplane forwarding | ${sock_hex} |
| peer: ${peer} | |

Ratio bpftool hex dump time / \`skbpf map dump --hex\` time: ${ratio:-n/a} (above 1: skbpf faster).

| forwarding (1 worker lcore, net_null → counters_1m.o → net_null) | Mpps | lost |
|---|---|---|
| idle (mean of before and after) | $(mpps "$idle") | |
| a CLI loop of \`skbpf map lookup\` (${lookups} lookups in 5 s, one process each) | $(mpps "$lk") | $(pct "$lk") % |
| a CLI loop of \`skbpf map dump --hex\` of the 1M map | $(mpps "$dumping") | $(pct "$dumping") % |
EOF
