#!/usr/bin/env bash
# The main job on its embedded default: the switch (`skbpf run` with its
# built-in configuration, see docs/dataplane.md): the frames of
# pcaps/fw.pcap enter port `wan`, the example 5-tuple firewall
# (progs/fw.c, blocked flows from progs/fw.map-init) runs on its ingress,
# what passes leaves by port `lan`. Both ports are DPDK net_pcap devices:
# no NIC, no hugepages needed. Then the same frames through `skbpf
# test-run`, to compare with the program run on its own.
set -euo pipefail
build=${1:-build}
out=${SKBPF_DEMO_OUT:-/tmp/skbpf-demo}
echo "== skbpf run (embedded default: firewall between two pcap ports, 2 s) =="
"$build/tools/skbpf" run --duration 2 --out-dir "$out"
echo
echo "== the output captures =="
for p in wan lan; do
  n=$(/usr/bin/python3 -c "import sys,struct
d=open(sys.argv[1],'rb').read(); i=24; n=0
while i+16<=len(d):
    n+=1; i+=16+struct.unpack_from('<I',d,i+8)[0]
print(n)" "$out/$p.pcap")
  echo "$out/$p.pcap: $n frames"
done
echo
echo "== the same program alone: skbpf test-run progs/fw.c on pcaps/fw.pcap =="
"$build/tools/skbpf" test-run "$build/progs/fw.o" --prog fw --pcap "$build/pcaps/fw.pcap" \
  --map-init progs/fw.map-init | tail -n 5
