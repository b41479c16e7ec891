/* SPDX-License-Identifier: MIT */
/*
 * `mset-bench --check`: the baselines must have mset's semantics exactly, or
 * the comparison means nothing.  Random operations (valid and invalid, byte-
 * granular ranges, backend failures injected at the same call) run on every
 * implementation; after each one the return values, the areas returned, and
 * the sequence of backend calls must be identical, and every few operations
 * the whole sets and their internal invariants are compared.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define UNIT 16u        /* ranges are multiples of this, or not (byte offsets) */
#define SPACE 256u      /* units in the address range the operations use */
#define BASE 0x10000u
#define MAXI 8          /* implementations */
#define MAXA (SPACE + 8) /* areas a set can hold */

/* Each set's page table: a hash of every backend call, and one call that
 * fails on purpose. */
struct rec_pt {
    uint64_t calls, hash, fail_at;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int rec(const struct mset_backend *be, void *p, unsigned op, uintptr_t start, size_t size,
               unsigned flags)
{
    struct rec_pt *pt = p;
    int rc = pt->calls++ == pt->fail_at ? -EIO : 0;
    uint64_t h = mix(pt->hash, (uintptr_t)be);

    h = mix(mix(mix(h, op), start), size);
    pt->hash = mix(h, flags | (rc ? 0x100u : 0));
    return rc;
}

static int rec_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                   unsigned flags)
{
    return rec(be, pt, 1, start, size, flags);
}

static int rec_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    return rec(be, pt, 2, start, size, 0);
}

static int rec_protect(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                       unsigned flags)
{
    return rec(be, pt, 3, start, size, flags);
}

static const struct mset_backend be_a = { rec_map, rec_unmap, rec_protect };
static const struct mset_backend be_b = { rec_map, rec_unmap, rec_protect };

/* Toggle flag bits; leave areas alone whose flags have bit 4 set in common
 * with the mask. */
static bool update(unsigned old_flags, unsigned *new_flags, void *arg)
{
    unsigned mask = *(unsigned *)arg;

    if (old_flags & mask & 0x10)
        return false;
    *new_flags = (old_flags ^ mask) & 0x17;
    return true;
}

struct areas {
    size_t n;
    struct mset_area a[MAXA];
};

static int collect(const struct mset_area *a, void *arg)
{
    struct areas *v = arg;

    if (v->n == MAXA)
        return -ENOSPC;
    v->a[v->n++] = *a;
    return 0;
}

static bool same_area(const struct mset_area *x, const struct mset_area *y)
{
    return x->start == y->start && x->end == y->end && x->flags == y->flags &&
           x->backend == y->backend && x->udata == y->udata;
}

struct run {
    const struct impl *const *impls;
    size_t ni;
    void *h[MAXI];
    struct rec_pt pt[MAXI];
    uint64_t seed, op;
    const char *what;
};

static bool mismatch(const struct run *r, size_t i, const char *detail, int64_t want, int64_t got)
{
    fprintf(stderr,
            "check: seed %#" PRIx64 " operation %" PRIu64 " (%s): %s disagrees with %s on %s: %" PRId64
            " vs %" PRId64 "\n",
            r->seed, r->op, r->what, r->impls[i]->name, r->impls[0]->name, detail, got, want);
    return false;
}

static bool same_rc(const struct run *r, const int *rc)
{
    for (size_t i = 1; i < r->ni; i++)
        if (rc[i] != rc[0])
            return mismatch(r, i, "return value", rc[0], rc[i]);
    return true;
}

static bool same_calls(const struct run *r)
{
    for (size_t i = 1; i < r->ni; i++)
        if (r->pt[i].calls != r->pt[0].calls || r->pt[i].hash != r->pt[0].hash)
            return mismatch(r, i, "backend calls", (int64_t)r->pt[0].calls, (int64_t)r->pt[i].calls);
    return true;
}

static bool same_sets(const struct run *r)
{
    static struct areas v[MAXI];

    for (size_t i = 0; i < r->ni; i++) {
        v[i].n = 0;
        if (r->impls[i]->foreach(r->h[i], collect, &v[i]))
            return mismatch(r, i, "foreach", 0, -1);
        if (r->impls[i]->check(r->h[i]))
            return mismatch(r, i, "internal invariants", 0, -1);
        if (r->impls[i]->len(r->h[i]) != v[i].n)
            return mismatch(r, i, "len vs foreach", (int64_t)v[i].n, (int64_t)r->impls[i]->len(r->h[i]));
    }
    for (size_t i = 1; i < r->ni; i++) {
        if (v[i].n != v[0].n)
            return mismatch(r, i, "number of areas", (int64_t)v[0].n, (int64_t)v[i].n);
        for (size_t k = 0; k < v[0].n; k++)
            if (!same_area(&v[i].a[k], &v[0].a[k]))
                return mismatch(r, i, "area start", (int64_t)v[0].a[k].start, (int64_t)v[i].a[k].start);
    }
    return true;
}

/* A random range: mostly in units, sometimes byte-granular, empty or wrapping. */
static void rand_range(uint64_t *rng, uintptr_t *start, size_t *size)
{
    uint64_t r = xs64(rng);

    *start = BASE + below(r, SPACE) * UNIT;
    *size = (1 + below(xs64(rng), 24)) * UNIT;
    switch (r & 31) {
    case 0:
        *size = 0;
        break;
    case 1:
        *start = UINTPTR_MAX - UNIT;
        break;
    case 2:
    case 3:
        *start += r >> 59;
        *size -= (r >> 54) & 15;
        break;
    }
    if ((r & 1023) == 5) {
        *start = 0;
        *size = UINTPTR_MAX; /* everything: a clear */
    }
}

static bool step(struct run *r, uint64_t *rng)
{
    const struct impl *const *im = r->impls;
    int rc[MAXI];
    uint64_t kind = below(xs64(rng), 100);
    uintptr_t start;
    size_t size;

    rand_range(rng, &start, &size);
    /* Sometimes fail the k-th backend call of this operation. */
    uint64_t fail = below(xs64(rng), 16) == 0 ? below(xs64(rng), 3) : UINT64_MAX;
    for (size_t i = 0; i < r->ni; i++)
        r->pt[i].fail_at = fail == UINT64_MAX ? UINT64_MAX : r->pt[i].calls + fail;

    if (kind < 30) {
        r->what = "map";
        unsigned flags = (unsigned)below(xs64(rng), 0x18);
        const struct mset_backend *be = xs64(rng) & 1 ? &be_a : &be_b;
        bool replace = xs64(rng) & 1;
        for (size_t i = 0; i < r->ni; i++)
            rc[i] = im[i]->map(r->h[i], start, size, flags, be, (void *)(uintptr_t)r->op, replace);
        return same_rc(r, rc) && same_calls(r);
    }
    if (kind < 50) {
        r->what = "unmap";
        for (size_t i = 0; i < r->ni; i++)
            rc[i] = im[i]->unmap(r->h[i], start, size);
        return same_rc(r, rc) && same_calls(r);
    }
    if (kind < 65) {
        r->what = "protect";
        unsigned mask = (unsigned)below(xs64(rng), 0x20);
        for (size_t i = 0; i < r->ni; i++)
            rc[i] = im[i]->protect(r->h[i], start, size, update, &mask);
        return same_rc(r, rc) && same_calls(r);
    }
    if (kind < 85) {
        r->what = kind < 75 ? "find" : kind < 80 ? "find_next" : "overlaps";
        uintptr_t addr = start + below(xs64(rng), UNIT);
        struct mset_area a[MAXI];
        for (size_t i = 0; i < r->ni; i++) {
            memset(&a[i], 0, sizeof a[i]);
            rc[i] = kind < 75   ? im[i]->find(r->h[i], addr, &a[i])
                    : kind < 80 ? im[i]->find_next(r->h[i], addr, &a[i])
                                : im[i]->overlaps(r->h[i], start, size);
        }
        if (!same_rc(r, rc))
            return false;
        for (size_t i = 1; i < r->ni; i++)
            if (!same_area(&a[i], &a[0]))
                return mismatch(r, i, "area start", (int64_t)a[0].start, (int64_t)a[i].start);
        return true;
    }
    if (kind < 97) {
        r->what = "find_free_area";
        size_t align = (size_t)1 << below(xs64(rng), 8);
        size_t fsize = align * (1 + below(xs64(rng), 4));
        uintptr_t hint = BASE + below(xs64(rng), (SPACE + 32) * UNIT);
        uintptr_t lo = BASE + below(xs64(rng), SPACE * UNIT / 2);
        uintptr_t hi = lo + below(xs64(rng), SPACE * UNIT * 2);
        uint64_t odd = xs64(rng);
        if ((odd & 15) == 0)
            hi = UINTPTR_MAX;
        else if ((odd & 15) == 1)
            align = 3; /* invalid */
        else if ((odd & 15) == 2)
            fsize += 1; /* not a multiple of align (unless align is 1) */
        uintptr_t out[MAXI];
        for (size_t i = 0; i < r->ni; i++) {
            out[i] = 0;
            rc[i] = im[i]->find_free_area(r->h[i], hint, fsize, lo, hi, align, &out[i]);
        }
        if (!same_rc(r, rc))
            return false;
        for (size_t i = 1; i < r->ni; i++)
            if (out[i] != out[0])
                return mismatch(r, i, "free area", (int64_t)out[0], (int64_t)out[i]);
        return true;
    }
    r->what = "len";
    for (size_t i = 0; i < r->ni; i++)
        rc[i] = (int)im[i]->len(r->h[i]);
    return same_rc(r, rc);
}

int bench_check(uint64_t seed, uint64_t ops)
{
    struct run r = { .impls = bench_impls, .ni = bench_nimpls, .seed = seed };
    uint64_t rng = seed ? seed : 1;
    bool ok = true;

    if (r.ni > MAXI)
        r.ni = MAXI;
    for (size_t i = 0; i < r.ni; i++) {
        r.h[i] = bench_impls[i]->create(&r.pt[i], NULL);
        if (!r.h[i]) {
            perror("check: create");
            return 1;
        }
    }
    for (r.op = 0; ok && r.op < ops; r.op++) {
        ok = step(&r, &rng);
        if (ok && r.op % 64 == 63) {
            r.what = "whole set";
            ok = same_sets(&r);
        }
    }
    r.what = "final state";
    ok = ok && same_sets(&r);
    for (size_t i = 0; i < r.ni; i++)
        bench_impls[i]->destroy(r.h[i]);
    if (ok)
        printf("check: %" PRIu64 " random operations (seed %#" PRIx64
               "): every implementation returned the same results, made the same backend calls "
               "and holds the same areas\n",
               ops, seed);
    return ok ? 0 : 1;
}
