#!/bin/sh
# Runs the README's "Test your tc program against a capture" commands as a
# new user would (in a scratch directory, against this build), then checks
# that a changed program makes the golden comparison fail with a frame
# difference: the README's promise, kept by the suite.
#   usage: readme_replay_test.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first ```sh block after the section's heading, with build/ pointing at this build.
awk '/^## Test your tc program against a capture/ {s=1} s && /^```sh/ {b=1; next} b && /^```/ {exit} b {print}' \
  "$src/README.md" | sed "s#build/#$build/#g" > "$work/steps.sh"
[ -s "$work/steps.sh" ] || { echo "README: no command block found"; exit 1; }
cd "$work"
sh -eu steps.sh > steps.out 2>&1 || { cat steps.out; echo "README steps failed"; exit 1; }
grep -q "drop_dns=2\] shot" steps.out || { cat steps.out; echo "no dropped DNS frame in the trace"; exit 1; }
grep -q "identical to golden" steps.out || { cat steps.out; echo "step 5 did not pass"; exit 1; }
# Now the program changes (drops port 54 instead of 53): step 5 must fail, saying where.
sed -i 's/bpf_htons(53)/bpf_htons(54)/' drop_dns.c
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c drop_dns.c -o drop_dns.o
set +e
"$build/tools/skbpf" replay --prog drop_dns.o:drop_dns --in "$build/pcaps/mixed.pcap" \
  --out-dir out --expect golden > changed.out 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat changed.out; echo "a changed program exited $rc, not 1"; exit 1; }
grep -q "port0.pcap: frame [0-9]*: " changed.out || { cat changed.out; echo "no frame named"; exit 1; }
echo "README replay steps: ok"
