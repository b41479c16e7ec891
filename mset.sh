#!/usr/bin/env bash
# mset's one entry point for people and CI.
#
#   ./mset.sh run    install what is missing, build, run the benchmark (quick table;
#                    arguments go to mset-bench, e.g. ./mset.sh run --full)
#   ./mset.sh test   install what is missing, build, run every test suite
#
# Runs as root on a fresh Debian 12 machine; installs packages with apt-get
# only when something is missing.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(gcc g++ meson ninja-build pkg-config python3 gzip liburcu-dev libck-dev libcmocka-dev)
# Reliability (issue 6): libFuzzer and sanitizers from clang 14, valgrind.
PACKAGES+=(clang libclang-rt-14-dev valgrind)
# Benchmarks (issue 5): libbsd's <bsd/sys/tree.h> for the red-black tree baselines.
PACKAGES+=(libbsd-dev)

# Seconds each stress program runs, in the normal and the sanitizer builds
# (docs/testing.md has the measured CI budget).  Override for longer soaks:
#   MSET_STRESS_SECONDS=300 ./mset.sh test
STRESS_SECONDS=${MSET_STRESS_SECONDS:-20}
SAN_STRESS_SECONDS=${MSET_SAN_STRESS_SECONDS:-$STRESS_SECONDS}

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "== installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# setup DIR [meson options...]: configure DIR once, reconfigure if options change.
setup() {
    local dir=$1 log
    shift
    log=$(mktemp)
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
    else
        meson setup "$dir" "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
    fi
    ninja -C "$dir" >"$log" 2>&1 || { grep -v '^\[' "$log" | head -n 60; echo "build failed in $dir" >&2; return 1; }
    rm -f "$log"
}

banner() {
    echo
    echo "== $*"
}

run() {
    deps
    setup build -Dwerror=true
    ./build/bench/mset-bench "$@"
}

# The normal build: every test suite that needs no sanitizer.
step_unit() {
    banner "unit tests"
    setup build -Dwerror=true
    meson test -C build --print-errorlogs --suite unit
}

# Install into a scratch root and build a program against it with
# pkg-config, the way an embedder would, shared and static.
step_install() {
    banner "install and link against the installed library"
    local root
    root=$(mktemp -d)
    meson install -C build --destdir "$root" >/dev/null
    local libdir
    libdir=$(dirname "$(dirname "$(find "$root" -name mset.pc | head -n 1)")")
    export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
    cc -std=c11 -Wall -Wextra -Werror examples/demo.c $(pkg-config --cflags --libs mset) \
        -Wl,-rpath,"$libdir" -o "$root/demo-shared"
    cc -std=c11 -Wall -Wextra -Werror examples/demo.c $(pkg-config --cflags mset) "$libdir/libmset.a" \
        $(pkg-config --static --libs-only-l mset | sed 's/-lmset//') -o "$root/demo-static"
    "$root/demo-shared" >/dev/null
    "$root/demo-static" >/dev/null
    echo "pkg-config $(pkg-config --modversion mset): shared and static demo built and ran"
    unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
    rm -rf "$root"
}

# The stress programs print their seed and throughput; meson keeps them in
# the test log, the CI log shows them too.
stress_summary() {
    grep -hE '^(stress_[a-z]+: seed|writers:|readers:)' "$1/meson-logs/testlog.txt" || true
}

# The stress suite on the normal build: readers check every call against the
# header's guarantees while writers churn (docs/testing.md).
step_stress() {
    banner "stress tests, ${STRESS_SECONDS} s each"
    setup build -Dwerror=true -Dstress_seconds="$STRESS_SECONDS"
    meson test -C build --print-errorlogs --suite stress
    stress_summary build
}

# ThreadSanitizer and ASan+UBSan builds, unit + stress each.  Any report fails
# the run (the default test setup's *SAN_OPTIONS; the canary tests prove it).
step_sanitizers() {
    banner "unit + stress under ThreadSanitizer, stress ${SAN_STRESS_SECONDS} s each"
    setup build-tsan -Dwerror=true -Db_sanitize=thread -Dstress_seconds="$SAN_STRESS_SECONDS"
    meson test -C build-tsan --print-errorlogs --suite unit --suite stress
    stress_summary build-tsan
    banner "unit + stress under AddressSanitizer + UndefinedBehaviorSanitizer"
    setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Dstress_seconds="$SAN_STRESS_SECONDS"
    meson test -C build-asan --print-errorlogs --suite unit --suite stress
    stress_summary build-asan
}

# The Linux backends checked against the kernel (suite linux), in the normal,
# ThreadSanitizer and ASan+UBSan builds.  Programs that need userfaultfd or
# VMA names exit 77 where the kernel lacks them: meson shows them as SKIP.
step_linux() {
    banner "Linux backends (suite linux)"
    setup build -Dwerror=true
    meson test -C build --print-errorlogs --suite linux
    banner "Linux backends under ThreadSanitizer"
    setup build-tsan -Dwerror=true -Db_sanitize=thread
    meson test -C build-tsan --print-errorlogs --suite linux
    banner "Linux backends under AddressSanitizer + UBSan"
    setup build-asan -Dwerror=true -Db_sanitize=address,undefined
    meson test -C build-asan --print-errorlogs --suite linux
}

# Valgrind memcheck (tests/valgrind.supp names only liburcu internals): the
# unit suite and a replay of the fuzz corpus.
step_valgrind() {
    banner "unit tests and fuzz corpus under valgrind memcheck"
    setup build -Dwerror=true
    meson test -C build --print-errorlogs --setup valgrind --suite unit --suite fuzz
}

# clang with ASan+UBSan (tests/ubsan.supp: one liburcu header): the unit
# suite (the OOM sweep under LeakSanitizer), then the libFuzzer target:
# replay fuzz/corpus and fuzz for FUZZ_SECONDS (60).  A crash or divergence
# fails the step and prints the input in hex (docs/reliability.md).
step_fuzz() {
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp
    banner "unit tests under ASan+UBSan (clang)"
    CC=clang CXX=clang++ setup build-fuzz -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
    meson test -C build-fuzz --print-errorlogs --suite unit --suite fuzz

    local fz=build-fuzz/fuzz/fuzz_mset run=build-fuzz/fuzz-run secs=${FUZZ_SECONDS:-60}
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/artifacts"
    local opts=(-max_len=512 -timeout=30 -rss_limit_mb=2048 -artifact_prefix="$run/artifacts/" -print_final_stats=1)
    banner "fuzz: replay fuzz/corpus ($(ls fuzz/corpus | wc -l) inputs), then $secs s of libFuzzer"
    if ! "$fz" "${opts[@]}" -runs=0 fuzz/corpus >"$run/replay.log" 2>&1 ||
        ! "$fz" "${opts[@]}" -max_total_time="$secs" "$run/corpus" fuzz/corpus >"$run/fuzz.log" 2>&1; then
        tail -n 60 "$run"/*.log
        for f in "$run"/artifacts/*; do
            [ -e "$f" ] && echo "FUZZ-INPUT $f (hex): $(od -An -v -tx1 "$f" | tr -d ' \n')"
        done
        echo "reproduce: python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' HEX >in"
        echo "           FZ_TRACE=1 $fz in    (or build/fuzz/fuzz_replay in)"
        return 1
    fi
    grep -h '^Done\|stat::number_of_executed_units\|stat::average_exec_per_sec\|stat::new_units_added' "$run/fuzz.log"
    echo "corpus: $(ls fuzz/corpus | wc -l) in the repository + $(ls "$run/corpus" | wc -l) found in this run"
}

test_all() {
    deps
    local t0=$SECONDS
    step_unit
    step_stress
    step_install
    step_linux
    step_sanitizers
    step_fuzz
    step_valgrind
    banner "all tests passed in $((SECONDS - t0)) s"
}

case "${1:-}" in
run) shift && run "$@" ;;
test) test_all ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
