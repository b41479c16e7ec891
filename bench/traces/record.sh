#!/usr/bin/env bash
# Record the address-space history of a JIT runtime for mset-replay:
#   bench/traces/record.sh [NAME] [FUNCTIONS]
# writes NAME.strace.gz (strace -f of node running jit.js) and NAME.maps
# (its /proc/PID/maps, taken while it is stopped after the workload, then it
# is killed so that no exit-time munmap follows the snapshot).
# Needs strace and node; not used by CI (the trace is committed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:-$here/node-jit}
nfuncs=${2:-3000}

coproc NODE {
    exec strace -f -e trace=mmap,munmap,mprotect,mremap,madvise -o "$name.strace" \
        node "$here/jit.js" "$nfuncs"
}
read -r pid _ <&"${NODE[0]}"
kill -STOP "$pid"
sleep 0.2 # let every thread reach the group stop
cp "/proc/$pid/maps" "$name.maps"
kill -KILL "$pid"
wait "$NODE_PID" || true
gzip -9nf "$name.strace"
echo "$name.strace.gz: $(zcat "$name.strace.gz" | wc -l) lines, node $(node --version); $name.maps: $(wc -l <"$name.maps") mappings"
