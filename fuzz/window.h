/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz target's page-table backend and its reference model share:
 * the window of address space they cover, the backend calls they log, and
 * the rule that decides which backend calls fail.
 *
 * The window is FZ_W bytes at `base` (0, the middle, or the very top of the
 * address space, where the last byte can never be mapped).  The backend maps
 * nothing outside it: a call that reaches outside fails with -EFAULT, which
 * gives the fuzzer backend failures of a realistic kind for free.
 */
#ifndef MSET_FUZZ_WINDOW_H
#define MSET_FUZZ_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mset.h"

#define FZ_W 256u

typedef unsigned __int128 u128;

enum fz_kind { FZ_MAP = 1, FZ_UNMAP, FZ_PROTECT };

/* One backend call: what was asked and what it returned. */
struct fz_call {
    enum fz_kind kind;
    int be;         /* 0 or 1: which of the two backends */
    uintptr_t start;
    size_t size;
    unsigned flags; /* map, protect */
    int rc;
};

/* Which backend calls of one operation fail: call i (from 0) fails with err
 * if bit i of mask is set, or, when sticky, if any bit <= i is set. */
struct fz_faults {
    uint8_t mask;
    bool sticky;
    int err;
};

static inline int fz_fault(const struct fz_faults *f, int i)
{
    if (f->sticky)
        return f->mask && i >= __builtin_ctz(f->mask) ? f->err : 0;
    return i < 8 && (f->mask >> i) & 1 ? f->err : 0;
}

/* [start, start + size) lies inside the window at base. */
static inline bool fz_inside(uintptr_t base, uintptr_t start, size_t size)
{
    return start >= base && (u128)start + size <= (u128)base + FZ_W;
}

/* The two backends, told apart by address: pieces must keep theirs. */
extern const struct mset_backend fz_backend[2];

static inline int fz_backend_index(const struct mset_backend *be)
{
    return be == &fz_backend[0] ? 0 : be == &fz_backend[1] ? 1 : -1;
}

/* protect's update rule, a pure function of the old flags and k: leave
 * alone, keep the same flags, set flags, or change all but one value. */
static inline bool fz_decide(unsigned old, unsigned *nf, unsigned k)
{
    unsigned v = (k >> 2) & 7;

    switch (k & 3) {
    case 0:
        return false;
    case 1:
        *nf = old;
        return true;
    case 2:
        *nf = v;
        return true;
    default:
        if (old == v)
            return false;
        *nf = (old + v) & 7;
        return true;
    }
}

#endif
