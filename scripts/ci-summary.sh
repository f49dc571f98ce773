#!/usr/bin/env bash
# .ci/run's closing lines, from a `tap --reporter=tap` output file and the exit status of the run
# that wrote it: the coverage of gateway/ and "N passed, N failed". Exits 0 only for a clean run.
# Use: scripts/ci-summary.sh TAP_OUTPUT_FILE STATUS
set -uo pipefail
out=$1 status=$2

# tap's closing summary line: "# { total: N, pass: N, fail: N, ... }" (fields absent when 0).
summary=$(grep -E '^# \{ total: [0-9]+' "$out" | tail -n 1)
if [ -z "$summary" ]; then
  echo "no tap summary found (the suite did not run to the end)"
  echo "0 passed, 1 failed"
  exit 1
fi
# Coverage of gateway/ from tap's text-summary report (gated in .taprc; npm test fails below it).
lines=$(sed -nE 's/^Lines +: ([0-9.]+%).*/\1/p' "$out" | tail -n 1)
branches=$(sed -nE 's/^Branches +: ([0-9.]+%).*/\1/p' "$out" | tail -n 1)
echo "coverage of gateway/: lines ${lines:-unknown}, branches ${branches:-unknown}"
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary"); pass=${pass:-0}
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary"); fail=${fail:-0}
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
  echo "npm test exited $status with no failed test: coverage below the gate in .taprc, or the build or type check failed"
  fail=1
fi
echo "$pass passed, $fail failed"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
