#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check mset-replay against an independent model of the same log.

    replay_model.py MSET_REPLAY TRACE[.gz] [--maps MAPS]

Written from the specification of mset-replay (bench/replay.c's header), not
from its code: its own strace parser (regular expressions) and a plain sorted
list of intervals in place of a set.  It runs MSET_REPLAY on TRACE and fails
unless both agree on the final number of areas, the bytes they cover, the
calls parsed per kind, the failed / joined / other / skipped line counts, the
mmaps that landed on areas still held, and, with --maps, the pages whose
protection agrees with the kernel's.
"""
import gzip
import re
import subprocess
import sys

PAGE = 4096
KINDS = ("mmap", "munmap", "mprotect", "mremap", "madvise")
PROT_BITS = {"PROT_READ": 1, "PROT_WRITE": 2, "PROT_EXEC": 4}

PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]|(\d+)(?= ))?\s*(?:(?=[\d:.]*[:.])[\d:.]+\s+)?(.*?)\s*$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(\S+)")
UNFINISHED = "<unfinished ...>"


class Malformed(Exception):
    pass


def number(tok):
    if tok == "NULL":
        return 0
    if re.fullmatch(r"0x[0-9a-fA-F]+", tok):
        return int(tok, 16)
    if re.fullmatch(r"\d+", tok):
        return int(tok)
    raise Malformed(tok)


def prot(tok):
    bits = 0
    for t in tok.split("|"):
        if t in PROT_BITS:
            bits |= PROT_BITS[t]
        elif t.startswith("PROT_") and len(t) > 5:
            pass
        else:
            bits |= number(t) & 7
    return bits


def parse(lines):
    """Yield (kind, fields) for each successful call; count everything."""
    counts = {k: 0 for k in KINDS}
    stats = {"failed": 0, "joined": 0, "other": 0, "skipped": 0}
    pending = {}
    ops = []
    for raw in lines:
        m = PREFIX.match(raw.rstrip("\n"))
        pid = int(m.group(1) or m.group(2) or 0)
        rest = m.group(3)
        if rest == "" or rest.startswith("---") or rest.startswith("+++"):
            stats["other"] += 1
            continue
        r = RESUMED.match(rest)
        if r:
            first = pending.pop(pid, None)
            if first is None or not first.startswith(r.group(1) + "("):
                if first is not None:
                    pending[pid] = first
                stats["skipped"] += 1
                continue
            text = first + r.group(2)
            stats["joined"] += 1
        elif rest.endswith(UNFINISHED):
            if pid in pending:
                stats["skipped"] += 1
            pending[pid] = rest[: -len(UNFINISHED)].rstrip()
            continue
        else:
            text = rest
        c = CALL.match(text)
        if not c:
            stats["skipped"] += 1
            continue
        name, args, result = c.group(1), c.group(2), c.group(3)
        if name not in KINDS:
            stats["other"] += 1
            continue
        if result.startswith("-") or result.startswith("?"):
            stats["failed"] += 1
            continue
        try:
            a = [x.strip() for x in args.split(",")]
            res = number(result)
            want = {"mmap": (6,), "munmap": (2,), "mprotect": (3,), "mremap": (4, 5), "madvise": (3,)}
            if len(a) not in want[name]:
                raise Malformed(text)
            if name == "mmap":
                op = dict(addr=res, len=number(a[1]), prot=prot(a[2]), fixed="MAP_FIXED" in a[3].split("|"))
            elif name == "mremap":
                flags = a[3].split("|")
                op = dict(addr=number(a[0]), len=number(a[1]), new_len=number(a[2]), new_addr=res,
                          dontunmap="MREMAP_DONTUNMAP" in flags)
            elif name == "mprotect":
                op = dict(addr=number(a[0]), len=number(a[1]), prot=prot(a[2]))
            else:
                op = dict(addr=number(a[0]), len=number(a[1]))
        except Malformed:
            stats["skipped"] += 1
            continue
        counts[name] += 1
        ops.append((name, op))
    stats["skipped"] += len(pending)  # first halves that never resumed
    return ops, counts, stats


class Intervals:
    """Non-overlapping [start, end, prot] in a sorted list; never merged."""

    def __init__(self):
        self.iv = []

    def overlaps(self, s, e):
        return any(a < e and s < b for a, b, _ in self.iv)

    def cut(self, s, e):
        out = []
        for a, b, p in self.iv:
            if b <= s or a >= e:
                out.append([a, b, p])
                continue
            if a < s:
                out.append([a, s, p])
            if b > e:
                out.append([e, b, p])
        self.iv = sorted(out)

    def map(self, s, e, p):
        self.cut(s, e)
        self.iv = sorted(self.iv + [[s, e, p]])

    def protect(self, s, e, p):
        out = []
        for a, b, q in self.iv:
            if b <= s or a >= e or q == p:
                out.append([a, b, q])
                continue
            lo, hi = max(a, s), min(b, e)
            if a < lo:
                out.append([a, lo, q])
            out.append([lo, hi, p])
            if hi < b:
                out.append([hi, b, q])
        self.iv = sorted(out)

    def prot_at(self, x):
        for a, b, p in self.iv:
            if a <= x < b:
                return p
        return None


def up(n):
    return -(-n // PAGE) * PAGE


def replay(ops):
    s = Intervals()
    conflicts = orphans = 0
    for name, op in ops:
        a, n = op["addr"], up(op["len"])
        if name == "mmap":
            if not op["fixed"] and s.overlaps(a, a + n):
                conflicts += 1
            s.map(a, a + n, op["prot"])
        elif name == "munmap":
            s.cut(a, a + n)
        elif name == "mprotect":
            if n:
                s.protect(a, a + n, op["prot"])
        elif name == "mremap":
            p = s.prot_at(a)
            if p is None:
                orphans += 1
                p = 0
            new, m = op["new_addr"], up(op["new_len"])
            if new == a:
                if m < n:
                    s.cut(a + m, a + n)
                elif m > n:
                    s.map(a + n, a + m, p)
            else:
                if n and not op["dontunmap"]:
                    s.cut(a, a + n)
                s.map(new, new + m, p)
    return s, conflicts, orphans


def maps_agreement(s, path):
    kernel = []
    with open(path) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if m:
                perms = m.group(3)
                p = (perms[0] == "r") * 1 | (perms[1] == "w") * 2 | (perms[2] == "x") * 4
                kernel.append((int(m.group(1), 16), int(m.group(2), 16), p))
    agree = 0
    for a, b, p in s.iv:
        for c, d, q in kernel:
            lo, hi = max(a, c), min(b, d)
            if lo < hi and p == q:
                agree += hi - lo
    return agree // PAGE


def field(out, label):
    m = re.search(r"^\s*" + re.escape(label) + r"\s*:?\s+(\d+)", out, re.M)
    if not m:
        sys.exit(f"FAIL: no '{label}' in mset-replay's output:\n{out}")
    return int(m.group(1))


def main():
    argv = sys.argv[1:]
    maps = None
    if "--maps" in argv:
        i = argv.index("--maps")
        maps = argv[i + 1]
        del argv[i : i + 2]
    tool, trace = argv
    opener = gzip.open if trace.endswith(".gz") else open
    with opener(trace, "rt", errors="replace") as f:
        ops, counts, stats = parse(f)
    s, conflicts, orphans = replay(ops)

    cmd = [tool, "--runs", "1", trace] + (["--maps", maps] if maps else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    got_calls = dict(re.findall(r"(\w+) (\d+)", re.search(r"^\s*calls\s+(.*)$", out, re.M).group(1)))

    want = {
        "final areas": len(s.iv),
        "final bytes": sum(b - a for a, b, _ in s.iv),
        "failed calls": stats["failed"],
        "joined halves": stats["joined"],
        "other lines": stats["other"],
        "skipped lines": stats["skipped"],
        "mmap over areas": conflicts,
        "mremap of no area": orphans,
        "set errors": 0,
    }
    if maps:
        want["agree with the kernel's protections"] = maps_agreement(s, maps)
    bad = [f"{k}: model {v}, mset-replay {field(out, k)}" for k, v in want.items() if field(out, k) != v]
    bad += [f"{k} calls: model {counts[k]}, mset-replay {got_calls.get(k)}"
            for k in KINDS if int(got_calls.get(k, -1)) != counts[k]]
    if bad:
        sys.exit("FAIL: mset-replay disagrees with the model on " + trace + ":\n  " + "\n  ".join(bad))
    print(f"ok: {trace}: {len(s.iv)} areas, {sum(counts.values())} calls, "
          f"{stats['skipped']} skipped lines, {conflicts} mmaps over held areas: mset-replay agrees")


if __name__ == "__main__":
    main()
