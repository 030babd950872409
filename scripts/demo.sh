#!/usr/bin/env bash
# The main job on its embedded default. Until the dataplane exists (issue 7)
# that is: the bpf_conformance suite on the JIT and on the interpreter, the
# example firewall of progs/ on its capture with `skbpf test-run` (JIT), then
# the ACL benchmark summary (skbpf's JIT and interpreter against native C and
# DPDK rte_bpf).
set -euo pipefail
build=${1:-build}
echo "== bpf_conformance suite =="
"$build/tools/skbpf" conformance --engine jit
"$build/tools/skbpf" conformance --engine interp
echo
echo "== skbpf test-run: progs/fw.c (5-tuple firewall) on pcaps/fw.pcap =="
"$build/tools/skbpf" test-run "$build/progs/fw.o" --prog fw --pcap "$build/pcaps/fw.pcap" \
  --map-init progs/fw.map-init
echo
echo "== ACL benchmark (../shared/anchors, 256 frames) =="
if [ -x "$build/bench/acl_bench" ]; then
  taskset -c "$(($(nproc) - 1))" "$build/bench/acl_bench" --summary-only
else
  echo "benchmarks not built (meson option bench=false)"
fi
