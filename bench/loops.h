/* SPDX-License-Identifier: MIT */
/*
 * The timed loops, written once and compiled into each implementation's file
 * so that they call it directly (no indirect call per operation).  Before
 * including, define:
 *   LOOP(name)                          the prefixed function name
 *   IMPL_FIND(h, addr, out)             bool, as mset_find()
 *   IMPL_MAP(h, start, size)            int, map with bench_noop_backend
 *   IMPL_UNMAP(h, start, size)          int, as mset_unmap()
 *   IMPL_FFA(h, hint, size, lo, hi, align, out)  int, as mset_find_free_area()
 * Every implementation sees the same random stream for the same seed, so
 * the sums of the lookups must agree (mset-bench checks it).
 */
#include "bench.h"

static struct loop_sum LOOP(find_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n)
{
    struct loop_sum r = { 0 };
    uint64_t s = *rng, span = layout_span(L);

    for (uint64_t i = 0; i < n; i++) {
        struct mset_area a;
        if (IMPL_FIND(h, L->base + below(xs64(&s), span), &a)) {
            r.hits++;
            r.sum += a.start;
        }
    }
    *rng = s;
    return r;
}

static struct loop_sum LOOP(churn_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n)
{
    struct loop_sum r = { 0 };
    uint64_t s = *rng;

    for (uint64_t i = 0; i < n; i++) {
        uintptr_t a = area_start(L, below(xs64(&s), L->n));
        if (IMPL_UNMAP(h, a, L->area) || IMPL_MAP(h, a, L->area))
            r.fails++;
    }
    *rng = s;
    return r;
}

static struct loop_sum LOOP(split_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n)
{
    struct loop_sum r = { 0 };
    uint64_t s = *rng;
    size_t mid = L->area / 2 / PAGE * PAGE; /* the page holding the midpoint */

    for (uint64_t i = 0; i < n; i++) {
        uintptr_t a = area_start(L, below(xs64(&s), L->n));
        if (IMPL_UNMAP(h, a + mid, PAGE) || IMPL_UNMAP(h, a, L->area) || IMPL_MAP(h, a, L->area))
            r.fails++;
    }
    *rng = s;
    return r;
}

static struct loop_sum LOOP(ffa_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n)
{
    struct loop_sum r = { 0 };
    uint64_t s = *rng, span = layout_span(L);
    uintptr_t hi = L->base + span + 64 * PAGE;
    /* Only the gap above the last area holds 2 pages. */
    uintptr_t tail = area_start(L, L->n - 1) + L->area;

    for (uint64_t i = 0; i < n; i++) {
        uintptr_t hint = L->base + below(xs64(&s), span), out = 0;
        uintptr_t up = (hint + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
        if (IMPL_FFA(h, hint, 2 * PAGE, L->base, hi, PAGE, &out) || out != (up > tail ? up : tail))
            r.fails++;
        r.sum += out;
    }
    *rng = s;
    return r;
}
