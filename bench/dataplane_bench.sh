#!/usr/bin/env bash
# The dataplane benchmark (DESIGN.md section 4, issue 7 item 8;
# docs/benchmarking.md): packets forwarded per second by one worker lcore
# between two net_null ports, in one run on this machine:
#
#   testpmd-io      dpdk-testpmd, io forwarding (port 0 <-> port 1)
#   testpmd-bpf-J   the same, plus `bpf-load rx P 0 J pass_rte.o` on both
#                   ports (DPDK's rte_bpf RX callback, JIT, packet-data arg)
#   testpmd-bpf-JM  the same with flags JM (JIT, the mbuf as the argument)
#   skbpf-none      `skbpf run`, the same two ports, no programs
#   skbpf-pass      `skbpf run`, bench/pass.o on both ingress chains
#   skbpf-fw        `skbpf run`, progs/fw.o on both ingress chains
#
# Mpps = packets transmitted on both ports per second (what testpmd's io
# forwarding forwards: 0->1 plus 1->0). Each variant runs --reps times,
# the variants interleaved (a, b, c, ..., a, b, c, ...) so that a change of
# load on the machine touches all of them; the table gives each median.
#
# Usage: bench/dataplane_bench.sh [--build DIR] [--duration S] [--reps N]
#          [--warmup S] [--only V1,V2,...] [--hugepages] [--write]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$root/build
duration=5
reps=3
warmup=1
only=""
hugepages=0
write=0
all_variants=(testpmd-io testpmd-bpf-J testpmd-bpf-JM skbpf-none skbpf-pass skbpf-fw)

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  cat <<EOF
Options:
  --build DIR     meson build directory with tools/skbpf, bench/pass.o,
                  bench/pass_rte.o and progs/fw.o (default: $root/build;
                  needs -Dbench=true)
  --duration S    measured seconds per run (default 5)
  --reps N        runs per variant (default 3)
  --warmup S      testpmd: seconds forwarding before the first sample (default 1)
  --only LIST     comma-separated subset of: ${all_variants[*]}
  --hugepages     use hugepages (must be free and mounted) instead of --no-huge -m 1024
  --write         insert an entry at the top of bench/RESULTS.md
EOF
}

die() {
  echo "dataplane_bench: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --hugepages) hugepages=1; shift ;;
    --write) write=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ $duration =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--duration: '$duration' is not a number of seconds"
[[ $warmup =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--warmup: '$warmup' is not a number of seconds"
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps: '$reps' is not a positive integer"

variants=("${all_variants[@]}")
if [[ -n $only ]]; then
  IFS=, read -r -a variants <<<"$only"
  for v in "${variants[@]}"; do
    [[ " ${all_variants[*]} " == *" $v "* ]] || die "--only: unknown variant '$v' (one of: ${all_variants[*]})"
  done
fi

skbpf=$build/tools/skbpf
pass_obj=$build/bench/pass.o
pass_rte_obj=$build/bench/pass_rte.o
fw_obj=$build/progs/fw.o
for f in "$skbpf" "$pass_obj" "$pass_rte_obj" "$fw_obj"; do
  [[ -e $f ]] || die "$f is missing: build it with
  meson setup $build -Dbench=true   # if needed
  ninja -C $build tools/skbpf bench/pass.o bench/pass_rte.o progs/fw.o"
done
testpmd=$(command -v dpdk-testpmd) || die "dpdk-testpmd not found (Debian package dpdk)"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
command -v stdbuf >/dev/null || die "stdbuf not found (coreutils)"

# One forwarding lcore: the main lcore on CPU 0, the worker on CPU 1.
if [[ $hugepages == 1 ]]; then
  mem_args=()
else
  mem_args=(--no-huge -m 1024)
fi
eal_common=(-l '0,1' "${mem_args[@]}" --log-level='lib.*:warning')
null_size=64

tmp=$(mktemp -d /tmp/dataplane_bench.XXXXXX)
child=""
cleanup() {
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then kill "$child" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- skbpf configurations ---------------------------------------------------
# Two net_null ports forwarding to each other; lcore 1 polls both.
write_config() {  # NAME OBJECT PROGRAM (OBJECT empty: no programs)
  local obj=$2 prog=$3 f=$tmp/$1.yaml
  cat >"$f" <<EOF
ports:
  - {name: n0, ifindex: 1, device: "net_null0,size=$null_size", next_hop: n1}
  - {name: n1, ifindex: 2, device: "net_null1,size=$null_size", next_hop: n0}
lcores:
  - lcore: 1
    poll:
      - {port: n0, queue: 0}
      - {port: n1, queue: 0}
EOF
  if [[ -n $obj ]]; then
    cat >>"$f" <<EOF
programs:
  n0:
    ingress:
      - {object: $obj, program: $prog}
  n1:
    ingress:
      - {object: $obj, program: $prog}
EOF
  else
    echo "programs: {}" >>"$f"
  fi
}
write_config none "" ""
write_config pass "$pass_obj" pass
write_config fw "$fw_obj" fw

# ---- runners: each prints the Mpps of one run on stdout ---------------------
# They run in a command substitution (a subshell): run_seq, the run's
# number, is counted by the caller, and a runner that fails stops its own
# testpmd (the EXIT trap does not reach into the subshell).
run_seq=0

# Waits until FILE has at least N lines matching REGEX (testpmd's answers).
wait_lines() {  # FILE REGEX N WHAT
  local i
  for ((i = 0; i < 1200; i++)); do
    if [[ $(grep -c -E "$2" "$1" 2>/dev/null || true) -ge $3 ]]; then return 0; fi
    if ! kill -0 "$child" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "dataplane_bench: testpmd: no $4; its last output:" >&2
  tail -n 30 "$1" >&2
  kill "$child" 2>/dev/null || true
  return 1
}

# testpmd, interactive, driven through a FIFO: start, wait --warmup, sample
# the port statistics, wait --duration, sample again. The second sample's
# "Tx-pps" is testpmd's own figure for the interval between the two
# samples (packets over its clock_gettime interval, per port), so the time
# the commands take to arrive does not enter the figure.
run_testpmd() {  # BPF_FLAGS ("" for none)
  local flags=$1 id=$run_seq
  local log=$tmp/testpmd.$id.log fifo=$tmp/testpmd.$id.in
  mkfifo "$fifo"
  local cmd=("$testpmd" "${eal_common[@]}" --no-pci --vdev "net_null0,size=$null_size"
    --vdev "net_null1,size=$null_size" --file-prefix "dpbench-$$-$id"
    -- -i --forward-mode=io --nb-cores=1 --no-flush-rx --total-num-mbufs=16383)
  echo "${cmd[*]}" >"$tmp/cmd.testpmd"
  stdbuf -oL -eL "${cmd[@]}" <"$fifo" >"$log" 2>&1 &
  child=$!
  exec 9>"$fifo"
  wait_lines "$log" 'testpmd> ' 1 "prompt" || return 1
  if [[ -n $flags ]]; then
    echo "bpf-load rx 0 0 $flags $pass_rte_obj" >&9
    echo "bpf-load rx 1 0 $flags $pass_rte_obj" >&9
    wait_lines "$log" '^-?[0-9]+:' 2 "answer to bpf-load" || return 1
    if [[ $(grep -c '^0:Success' "$log") -ne 2 ]]; then
      echo "dataplane_bench: testpmd: bpf-load failed:" >&2
      grep -E '^-?[0-9]+:' "$log" >&2
      kill "$child" 2>/dev/null || true
      return 1
    fi
  fi
  echo start >&9
  sleep "$warmup"
  echo "show port stats all" >&9
  wait_lines "$log" 'Tx-pps:' 2 "first statistics" || return 1
  sleep "$duration"
  echo "show port stats all" >&9
  wait_lines "$log" 'Tx-pps:' 4 "second statistics" || return 1
  echo stop >&9
  echo quit >&9
  exec 9>&-
  wait "$child" || true
  child=""
  cp "$log" "$tmp/last.testpmd.log"
  awk '/Tx-pps:/ { n++; if (n > 2) s += $2 } END { printf "%.3f\n", s / 1e6 }' "$log"
}

run_skbpf() {  # CONFIG_NAME
  local id=$run_seq
  local out=$tmp/skbpf.$id.json err=$tmp/skbpf.$id.err
  local cmd=("$skbpf" run "$tmp/$1.yaml" --duration "$duration" --json -- "${eal_common[@]}")
  echo "${cmd[*]}" >"$tmp/cmd.skbpf-$1"
  if ! "${cmd[@]}" >"$out" 2>"$err"; then
    echo "dataplane_bench: skbpf run failed:" >&2
    cat "$err" >&2
    return 1
  fi
  local dropped
  dropped=$(jq '.totals.dropped' "$out")
  if [[ $dropped != 0 ]]; then
    echo "dataplane_bench: skbpf dropped $dropped packets: $(jq -c '[.ports[].drops]' "$out")" >&2
    return 1
  fi
  cp "$out" "$tmp/last.skbpf-$1.json"
  jq -r '([.ports[].tx_packets] | add) / .duration_s / 1e6 | . * 1000 | round / 1000' "$out"
}

run_variant() {
  case $1 in
    testpmd-io) run_testpmd "" ;;
    testpmd-bpf-J) run_testpmd J ;;
    testpmd-bpf-JM) run_testpmd JM ;;
    skbpf-none) run_skbpf none ;;
    skbpf-pass) run_skbpf pass ;;
    skbpf-fw) run_skbpf fw ;;
  esac
}

describe() {
  case $1 in
    testpmd-io) echo "testpmd io forwarding" ;;
    testpmd-bpf-J) echo "testpmd io + bpf-load rx J pass_rte.o (both ports)" ;;
    testpmd-bpf-JM) echo "testpmd io + bpf-load rx JM pass_rte.o (both ports)" ;;
    skbpf-none) echo "skbpf run, no programs" ;;
    skbpf-pass) echo "skbpf run, pass.o on both ingress chains" ;;
    skbpf-fw) echo "skbpf run, progs/fw.o on both ingress chains" ;;
  esac
}

median() {  # values...
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- the run ------------------------------------------------------------------
model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
cpus=$(nproc)
kernel=$(uname -r)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "dataplane_bench: $started, $model, $cpus CPUs, load $load_start;" \
  "${#variants[@]} variants x $reps runs x ${duration} s" >&2

declare -A results
for ((r = 1; r <= reps; r++)); do
  for v in "${variants[@]}"; do
    run_seq=$((run_seq + 1))
    mpps=$(run_variant "$v") || die "$v failed (run $r)"
    results[$v]="${results[$v]:-} $mpps"
    printf '  run %d  %-15s %8.3f Mpps\n' "$r" "$v" "$mpps" >&2
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A med
runs_w=$((reps * 8 + 2))  # "NN.NNN " per run
[[ $runs_w -ge 13 ]] || runs_w=13
table=$(printf '%-16s %13s %7s   %-*s %s' variant "Mpps (median)" ns/pkt "$runs_w" "runs (Mpps)" what)$'\n'
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086 # word splitting of the run list is intended
  med[$v]=$(median ${results[$v]})
  # shellcheck disable=SC2086
  runs=$(printf '%.3f ' ${results[$v]})
  nspp=$(awk -v m="${med[$v]}" 'BEGIN { printf "%.1f", 1000 / m }')
  table+=$(printf '%-16s %13s %7s   %-*s %s' "$v" "${med[$v]}" "$nspp" "$runs_w" "$runs" \
    "$(describe "$v")")$'\n'
done

ratio_line() {  # NUM DEN TARGET_OP TARGET LABEL
  [[ -n ${med[$1]:-} && -n ${med[$2]:-} ]] || return 0
  awk -v a="${med[$1]}" -v b="${med[$2]}" -v op="$3" -v t="$4" -v label="$5" 'BEGIN {
    r = a / b
    verdict = ""
    if (op == ">=") verdict = (r >= t) ? "met" : "missed"
    if (verdict != "") printf "%-34s %6.3f   target >= %s: %s\n", label, r, t, verdict
    else printf "%-34s %6.3f\n", label, r }'
}
ratios=""
ratios+=$(ratio_line skbpf-pass testpmd-io ">=" 0.85 "skbpf-pass / testpmd-io")$'\n'
ratios+=$(ratio_line skbpf-pass testpmd-bpf-J ">=" 1.0 "skbpf-pass / testpmd-bpf-J")$'\n'
ratios+=$(ratio_line skbpf-pass testpmd-bpf-JM ">=" 1.0 "skbpf-pass / testpmd-bpf-JM")$'\n'
ratios+=$(ratio_line skbpf-none testpmd-io - - "skbpf-none / testpmd-io")$'\n'
ratios+=$(ratio_line testpmd-bpf-J testpmd-io - - "testpmd-bpf-J / testpmd-io")$'\n'
ratios+=$(ratio_line skbpf-pass skbpf-none - - "skbpf-pass / skbpf-none")$'\n'
ratios+=$(ratio_line skbpf-fw skbpf-pass - - "skbpf-fw / skbpf-pass")$'\n'
ratios=$(printf '%s' "$ratios" | sed '/^$/d')

echo
echo "Dataplane benchmark: 2 net_null ports (size=$null_size), 1 forwarding lcore (CPU 1), ${duration} s x $reps runs"
echo "$started; $model, $cpus CPUs, Linux $kernel; load average $load_start at the start, $load_end at the end"
echo
printf '%s' "$table"
echo
echo "$ratios"

if [[ $write == 1 ]]; then
  results_md=$root/bench/RESULTS.md
  [[ -f $results_md ]] || die "$results_md not found"
  tree=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$root" status --porcelain 2>/dev/null | head -n 1) ]]; then
    tree="$tree with uncommitted changes in the work tree"
  fi
  cmds=""
  for v in "${variants[@]}"; do
    case $v in
      testpmd-io) cmds+="# testpmd-io; commands on stdin: start, (${warmup} s), show port stats all, (${duration} s), show port stats all, stop, quit"$'\n'"$(cat "$tmp/cmd.testpmd")"$'\n' ;;
      testpmd-bpf-J | testpmd-bpf-JM) cmds+="# $v: as testpmd-io, after 'bpf-load rx 0 0 ${v#testpmd-bpf-} $pass_rte_obj' and the same for port 1"$'\n' ;;
      skbpf-*) cmds+="# $v (TMP/${v#skbpf-}.yaml, written by the script: see docs/benchmarking.md)"$'\n'"$(cat "$tmp/cmd.${v}")"$'\n' ;;
    esac
  done
  # The configurations and FIFOs live in a directory deleted at exit.
  cmds=${cmds//"$tmp"/TMP}
  entry=$(
    cat <<EOF
## $started — the dataplane (issue 7): skbpf run against testpmd on net_null

- **Machine**: $model, $cpus vCPU, Linux $kernel; load average $load_start
  at the start, $load_end at the end.
- **Tree**: $tree.
- **Command**: \`bench/dataplane_bench.sh --build ${build#"$root"/} --duration $duration --reps $reps --warmup $warmup --write\`
  (docs/benchmarking.md). Two net_null ports (\`size=$null_size\`, zero-filled
  frames: not IPv4), one forwarding lcore on CPU 1 (main lcore on CPU 0),
  $([[ $hugepages == 1 ]] && echo "hugepages" || echo "\`--no-huge -m 1024\`"). Mpps = packets sent on both ports per second;
  the median of $reps runs of $duration s, the variants interleaved.

\`\`\`
$(printf '%s' "$table")

$ratios
\`\`\`

Each run's command:

\`\`\`
$(printf '%s' "$cmds")
\`\`\`

---
EOF
  )
  # Newest first: the entry goes after the first "---" line (the end of the
  # file's introduction), and ends with its own "---".
  printf '%s\n' "$entry" >"$tmp/entry.md"
  first=$(grep -n -m 1 '^---$' "$results_md" | cut -d: -f1)
  [[ -n $first ]] || die "$results_md has no '---' line after its introduction"
  {
    head -n "$first" "$results_md"
    echo
    cat "$tmp/entry.md"
    tail -n +"$((first + 1))" "$results_md"
  } >"$tmp/RESULTS.md"
  cp "$tmp/RESULTS.md" "$results_md"
  echo "dataplane_bench: entry added to $results_md" >&2
fi
