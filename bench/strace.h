/* SPDX-License-Identifier: MIT */
/*
 * A parser for the logs of `strace -f -e trace=mmap,munmap,mprotect,mremap,
 * madvise -o FILE PROGRAM`: one call per line, "PID name(args) = result",
 * with "<unfinished ...>" / "<... name resumed>" halves when threads
 * interleave.  Lines are fed one at a time; a complete successful call of
 * interest comes out as a struct sc_op.  Anything else is counted, never
 * fatal: failed calls, signal and exit lines, other syscalls, and lines that
 * do not parse (malformed or truncated), including halves that never meet.
 */
#ifndef MSET_BENCH_STRACE_H
#define MSET_BENCH_STRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sc_kind { SC_MMAP, SC_MUNMAP, SC_MPROTECT, SC_MREMAP, SC_MADVISE, SC_NKINDS };

extern const char *const sc_names[SC_NKINDS];

struct sc_op {
    enum sc_kind kind;
    uintptr_t addr;     /* mmap: the address returned; others: the first argument */
    size_t len;         /* mmap, munmap, mprotect, madvise: length; mremap: old size */
    size_t new_len;     /* mremap: new size */
    uintptr_t new_addr; /* mremap: the address returned */
    unsigned prot;      /* mmap, mprotect: MSET_READ | MSET_WRITE | MSET_EXEC */
    bool fixed;         /* mmap: MAP_FIXED (not MAP_FIXED_NOREPLACE) */
    bool dontunmap;     /* mremap: MREMAP_DONTUNMAP */
};

struct strace_stats {
    uint64_t lines;
    uint64_t calls[SC_NKINDS]; /* successful calls parsed, per kind */
    uint64_t failed;           /* calls that returned an error (or "?") */
    uint64_t joined;           /* unfinished/resumed pairs put back together */
    uint64_t other;            /* signals, exits, other syscalls, blank lines */
    uint64_t malformed;        /* lines skipped because they do not parse */
};

#define STRACE_MAX_PENDING 256

struct strace_parser {
    struct strace_stats st;
    /* Unfinished first halves, per thread. */
    struct {
        long pid;
        char *text;
    } pending[STRACE_MAX_PENDING];
    size_t npending;
};

void strace_init(struct strace_parser *p);

/* Feed one line (without or with its newline).  Return true and fill *op if
 * it completes a successful call of interest. */
bool strace_feed(struct strace_parser *p, const char *line, struct sc_op *op);

/* End of log: first halves still waiting are truncated lines. */
void strace_finish(struct strace_parser *p);

#endif
