#!/bin/sh
# Fail if the shared library exports a symbol that does not start with mset_.
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | grep -v '^mset_' || true)
if [ -n "$bad" ]; then
    echo "symbols exported without the mset_ prefix:" >&2
    echo "$bad" >&2
    exit 1
fi
n=$(nm -D --defined-only "$lib" | grep -c ' T mset_')
echo "$n mset_ functions exported, nothing else"
