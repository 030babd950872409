#!/bin/sh
# Rewrites the golden captures of pcaps/golden/ from a build: what
# `skbpf replay --prog OBJ:NAME` sends for each example program of progs/
# on its capture (pcaps/make_pcaps.py). Run it only after checking that a
# change of output is intended (tshark -r the new captures, or
# `skbpf replay ... --expect pcaps/golden/NAME` to see the differences);
# tests/replay_cli_test.cpp replays the same and expects these files.
#   usage: pcaps/update_golden.sh BUILD_DIR
set -eu
build=${1:?usage: pcaps/update_golden.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
for name in fw dnat vlan; do
  init=""
  [ -f "$src/progs/$name.map-init" ] && init="--map-init $src/progs/$name.map-init"
  rm -rf "$src/pcaps/golden/$name"
  # shellcheck disable=SC2086
  "$build/tools/skbpf" replay --prog "$build/progs/$name.o:$name" $init \
    --in "$build/pcaps/$name.pcap" --out-dir "$src/pcaps/golden/$name" >/dev/null
  echo "pcaps/golden/$name/port0.pcap"
done
