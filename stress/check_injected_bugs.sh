#!/usr/bin/env bash
# Build the library once per injected bug (-Ddebug_bug=...) and measure how
# often, and how fast, the stress programs and the sanitizers catch it.
# Never part of CI (it runs for minutes).  docs/testing.md has its output.
#
#   stress/check_injected_bugs.sh [trials] [seconds]     defaults: 5 trials of 30 s
set -uo pipefail
cd "$(dirname "$0")/.."
trials=${1:-5}
secs=${2:-30}
export TSAN_OPTIONS=halt_on_error=1 ASAN_OPTIONS=halt_on_error=1:detect_leaks=0
export UBSAN_OPTIONS=halt_on_error=1

# build DIR OPTIONS...: configure (or reconfigure) and build quietly.
build() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
    nice ninja -C "$dir" >/dev/null
}

# trial BUG LABEL DIR PROGRAM: run PROGRAM `trials` times, report.
trial() {
    local bug=$1 label=$2 dir=$3 prog=$4 caught=0 times="" first="" summary="" out rc t0 t
    for _ in $(seq "$trials"); do
        t0=$EPOCHREALTIME
        out=$(nice "$dir/stress/$prog" -t "$secs" 2>&1)
        rc=$?
        t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        if [ "$rc" -ne 0 ]; then
            caught=$((caught + 1))
            times+=" $t"
            if [ -z "$first" ]; then
                first=$(printf '%s\n' "$out" |
                    grep -m1 -E 'FAIL|ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error' |
                    cut -c1-200)
                [ -n "$first" ] || first="no report line: exit status $rc (signal $((rc - 128)))"
                summary=$(printf '%s\n' "$out" | grep -m1 '^SUMMARY:' | cut -c1-200)
            fi
        fi
    done
    printf '%-16s %-7s %-16s caught %d/%d  seconds to failure:%s\n' "$bug" "$label" "$prog" \
        "$caught" "$trials" "${times:- -}"
    [ -z "$first" ] || printf '    first: %s\n' "$first"
    [ -z "$summary" ] || printf '    %s\n' "$summary"
}

echo "injected bugs: $trials trials of at most $secs s each (nice)"
for bug in split_order unlink_order no_grace gap_merge relaxed_publish no_drain; do
    build "build-bug-$bug" -Ddebug_bug="$bug"
    trial "$bug" normal "build-bug-$bug" stress_churn
    trial "$bug" normal "build-bug-$bug" stress_anywhere
    case $bug in
    no_grace | no_drain) trial "$bug" normal "build-bug-$bug" stress_lifecycle ;;
    esac
done
for bug in relaxed_publish no_grace; do
    build "build-bug-tsan-$bug" -Ddebug_bug="$bug" -Db_sanitize=thread
    trial "$bug" tsan "build-bug-tsan-$bug" stress_churn
done
for bug in no_grace no_drain; do
    build "build-bug-asan-$bug" -Ddebug_bug="$bug" -Db_sanitize=address,undefined
    trial "$bug" asan "build-bug-asan-$bug" stress_churn
    trial "$bug" asan "build-bug-asan-$bug" stress_lifecycle
done
