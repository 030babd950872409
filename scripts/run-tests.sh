#!/usr/bin/env bash
# Runs every test of a build directory and prints one closing line,
# "N passed, N failed, N skipped", counted over the GoogleTest cases of all
# test programs (each writes a JSON report under BUILD/gtest-results).
#   scripts/run-tests.sh BUILD_DIR [meson test args...]
set -uo pipefail
build=$1
shift
rm -rf "$build/gtest-results"
mkdir -p "$build/gtest-results"
meson test -C "$build" --print-errorlogs "$@"
rc=$?
python3 - "$build/gtest-results" "$rc" <<'PY'
import json, os, sys
d, rc = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
for name in sorted(os.listdir(d)):
    with open(os.path.join(d, name)) as f:
        report = json.load(f)
    for suite in report.get("testsuites", []):
        for case in suite.get("testsuite", []):
            if case.get("result") == "SKIPPED" or case.get("status") == "NOTRUN":
                skipped += 1
            elif case.get("failures"):
                failed += 1
            else:
                passed += 1
if rc != 0 and failed == 0:
    failed = 1  # a test program crashed or timed out before writing its report
print(f"{passed} passed, {failed} failed, {skipped} skipped")
with open(os.path.join(os.path.dirname(d), "test-counts"), "w") as f:
    f.write(f"{passed} {failed} {skipped}\n")
PY
exit $rc
