#!/usr/bin/env bash
# The replay benchmark (issue 8; docs/benchmarking.md): `skbpf replay` of a
# large capture through the firewall (progs/fw.o with progs/fw.map-init)
# against its peer measured in the same run, libpcap reading and writing the
# same capture with no program (bench/pcap_copy). Target: replay >= 0.7x
# the peer's frames per second, i.e. replay is bound by capture I/O.
#
#   pcap-copy       bench/pcap_copy IN OUT (pcap_next_ex + pcap_dump)
#   replay-w1       skbpf replay --prog fw.o:fw --workers 1
#   replay-w2       the same with --workers 2
#
# The capture (bench/make_big_pcap.py: --frames frames of 60-200 bytes over
# 4096 TCP/UDP flows, ~3% in blocked flows) is written once and read once
# before timing, so every variant reads it from the page cache. Frames per
# second: pcap_copy's own timing (open to close); replay's from its report
# (frames / run time, open of the inputs to the rename of the outputs;
# start-up, i.e. EAL, program load and JIT, is given separately as the
# process's wall time). Variants interleaved, --reps runs each, the median.
#
# Usage: bench/replay_bench.sh [--build DIR] [--frames N] [--reps N]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$root/build
frames=1000000
reps=3

die() {
  echo "replay_bench: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

skbpf=$build/tools/skbpf
copy=$build/bench/pcap_copy
fw=$build/progs/fw.o
[[ -x $skbpf ]] || die "$skbpf not built"
[[ -x $copy ]] || die "$copy not built (meson setup -Dbench=true)"
[[ -f $fw ]] || die "$fw not built"
command -v jq >/dev/null || die "jq is needed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$here/make_big_pcap.py" "$tmp/big.pcap" --frames "$frames" >/dev/null
cat "$tmp/big.pcap" >/dev/null

declare -A results walls
run_variant() {
  local v=$1 t0 t1 fps
  case $v in
    pcap-copy)
      fps=$("$copy" "$tmp/big.pcap" "$tmp/copy.pcap" --repeat 1 | jq -r .fps)
      ;;
    replay-w*)
      t0=$(date +%s.%N)
      "$skbpf" replay --prog "$fw:fw" --map-init "$root/progs/fw.map-init" --in "$tmp/big.pcap" \
        --out-dir "$tmp/out" --workers "${v#replay-w}" --json >"$tmp/report.json"
      t1=$(date +%s.%N)
      fps=$(jq -r '.frames_in / .duration_s' "$tmp/report.json")
      walls[$v]+="$(echo "$frames / ($t1 - $t0)" | bc -l) "
      ;;
  esac
  results[$v]+="$fps "
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

variants=(pcap-copy replay-w1 replay-w2)
for ((r = 0; r < reps; r++)); do
  for v in "${variants[@]}"; do run_variant "$v"; done
done

peer=$(echo "${results[pcap-copy]}" | median)
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "Replay benchmark: $frames frames ($(du -h "$tmp/big.pcap" | cut -f1)), firewall, median of $reps runs"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $model, $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %14s %10s %22s\n' variant "frames/s" "vs peer" "frames/s incl. start-up"
for v in "${variants[@]}"; do
  m=$(echo "${results[$v]}" | median)
  w=$( [[ -n ${walls[$v]:-} ]] && echo "${walls[$v]}" | median || echo "")
  printf '%-12s %14.0f %10.2f %22s\n' "$v" "$m" "$(echo "$m / $peer" | bc -l)" \
    "$( [[ -n $w ]] && printf '%.0f' "$w" || echo -)"
done
best=$(for v in replay-w1 replay-w2; do echo "${results[$v]}" | median; done | sort -g | tail -1)
printf 'replay (best of w1, w2) / pcap-copy = %.2f (target >= 0.7)\n' "$(echo "$best / $peer" | bc -l)"
