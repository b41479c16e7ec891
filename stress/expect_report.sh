#!/bin/sh
# expect_report.sh PATTERN COMMAND...: pass only if COMMAND fails and its
# output contains PATTERN (a sanitizer's report), so that a sanitizer build
# that stopped failing on reports shows up as a failed test.
set -u
pattern=$1
shift
out=$("$@" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q "$pattern"; then
    echo "the run failed (exit $rc) with the report: $pattern"
    exit 0
fi
printf '%s\n' "$out"
echo "expected a failed run reporting '$pattern', got exit $rc" >&2
exit 1
