#!/usr/bin/env bash
# Plot a mset-bench JSON file:  bench/plot.sh RESULTS.json [OUT.png]
# Left: find latency against N.  Right: one reader's throughput alone and
# under a churning writer.  Medians, with min-max bars, for every
# implementation.  Needs python3 and gnuplot (Debian: gnuplot-nox); CI does
# not run it.
set -euo pipefail
json=$1
out=${2:-docs/benchmarks.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per implementation: N, then median/min/max of find_ns,
# reader_alone_mops and reader_with_writer_mops.
python3 - "$json" "$tmp" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
res = {(r["n"], r["impl"], r["metric"]): r for r in d["results"]}
impls = [i["name"] for i in d["impls"]]
for k, im in enumerate(impls):
    with open(f"{sys.argv[2]}/{k}.dat", "w") as f:
        for n in d["sizes"]:
            row = [n]
            for m in ("find_ns", "reader_alone_mops", "reader_with_writer_mops"):
                r = res[(n, im, m)]
                row += [r["median"], r["min"], r["max"]]
            print(*row, file=f)
with open(f"{sys.argv[2]}/meta", "w") as f:
    print(" ".join(impls), file=f)
    print(f'mset-bench --{d["mode"]}: {d["trials"]} trials per point, {d["cpus"]} CPUs, '
          f'load average {d["loadavg_start"][0]:.2f} at start', file=f)
PY

gnuplot <<GP
impls = "$(sed -n 1p "$tmp/meta")"
set terminal pngcairo size 1200,560 enhanced font "sans,11" background "white"
set output "$out"
set multiplot layout 1,2 title "$(sed -n 2p "$tmp/meta")"
set logscale xy
set grid
set xlabel "N (areas)"
set xtics ("1k" 1000, "10k" 10000, "100k" 100000, "1M" 1000000)
set xrange [700:1500000]
set key below
set bmargin 8
set ylabel "ns per find (median; bars: min-max)"
set title "find latency"
plot for [i=1:words(impls)] sprintf("$tmp/%d.dat", i-1) using 1:2:3:4 \
     with yerrorlines lc i lw 2 pt 7 title word(impls, i)
set ylabel "Mlookups/s of one reader"
set title "reader throughput: alone (solid), with a churning writer (dashed)"
plot for [i=1:words(impls)] sprintf("$tmp/%d.dat", i-1) using 1:5:6:7 \
         with yerrorlines lc i lw 2 pt 7 title word(impls, i)." alone", \
     for [i=1:words(impls)] sprintf("$tmp/%d.dat", i-1) using 1:8:9:10 \
         with yerrorlines lc i lw 2 dt 2 pt 6 title word(impls, i)." + writer"
unset multiplot
GP
echo "wrote $out"
