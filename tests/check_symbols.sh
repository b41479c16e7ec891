#!/bin/sh
# Fail if a library defines a global symbol that does not start with mset_:
# the shared library's exports, and the static library's link-level names
# (an embedder links libmset.a into a program full of other symbols).
set -eu
status=0
for lib in "$@"; do
    case $lib in
    *.so*) syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }') ;;
    *) syms=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TDBRVW]$/ { print $3 }') ;;
    esac
    # __odr_asan.<name>: the ODR indicator GCC's AddressSanitizer adds next to
    # each instrumented global (here mset_gp_token); not a name of ours.
    bad=$(printf '%s\n' "$syms" | grep -v '^mset_' | grep -v '^__odr_asan\.mset_' | grep -v '^$' || true)
    if [ -n "$bad" ]; then
        echo "$lib: global symbols without the mset_ prefix:" >&2
        echo "$bad" >&2
        status=1
    else
        echo "$lib: $(printf '%s\n' "$syms" | grep -c '^mset_') symbols, all mset_"
    fi
done
exit $status
