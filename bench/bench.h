/* SPDX-License-Identifier: MIT */
/*
 * What mset-bench and mset-replay share: the implementations under test
 * behind one table of functions, the standard layout, the random numbers, the
 * clock and the counting allocator.
 */
#ifndef MSET_BENCH_H
#define MSET_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mset.h"

#define PAGE 4096u

/* The standard layout: n areas of `area` bytes every `stride` bytes from base. */
struct layout {
    uintptr_t base;
    size_t n, area, stride;
};

static inline uintptr_t area_start(const struct layout *L, size_t i)
{
    return L->base + i * L->stride;
}

static inline uintptr_t layout_span(const struct layout *L)
{
    return L->n * L->stride;
}

/* xorshift64 (Marsaglia); the state must not be 0. */
static inline uint64_t xs64(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* A value in [0, n) from a random word, without a division. */
static inline uint64_t below(uint64_t r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The backend of the benchmarks: does nothing, so the data structure is
 * what is measured. */
extern const struct mset_backend bench_noop_backend;

/* Results of a hot loop, compared across implementations run on the same
 * random stream. */
struct loop_sum {
    uint64_t hits;  /* lookups that found an area */
    uint64_t sum;   /* sum of the found starts (or returned addresses) */
    uint64_t fails; /* operations that returned an unexpected error */
};

/*
 * One implementation under test.  The generic entries have mset's signatures
 * with the set as void *; the loops are compiled once per implementation
 * (loops.h) so that the timed code calls it directly.
 */
struct impl {
    const char *name;    /* "mset", "rb+rwlock", ... */
    const char *flavour; /* mset's RCU read-side flavour; "-" for baselines */
    bool is_mset;

    void *(*create)(void *pt, const struct mset_allocator *a);
    void (*destroy)(void *h);
    int (*map)(void *h, uintptr_t start, size_t size, unsigned flags, const struct mset_backend *be,
               void *udata, bool unmap_overlap);
    int (*unmap)(void *h, uintptr_t start, size_t size);
    int (*protect)(void *h, uintptr_t start, size_t size,
                   bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg), void *arg);
    bool (*find)(void *h, uintptr_t addr, struct mset_area *out);
    bool (*find_next)(void *h, uintptr_t addr, struct mset_area *out);
    bool (*overlaps)(void *h, uintptr_t start, size_t size);
    int (*find_free_area)(void *h, uintptr_t hint, size_t size, uintptr_t limit_start,
                          uintptr_t limit_end, size_t align, uintptr_t *out);
    size_t (*len)(void *h);
    int (*foreach)(void *h, int (*fn)(const struct mset_area *a, void *arg), void *arg);
    int (*check)(void *h);

    /* n random lookups in the layout's span. */
    struct loop_sum (*find_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n);
    /* n times: unmap a random area whole, map it again. */
    struct loop_sum (*churn_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n);
    /* n times: unmap the page in the middle of a random area, then the
     * whole area, then map it again. */
    struct loop_sum (*split_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n);
    /* n times: find_free_area(random hint, 2 pages, align 1 page, limits
     * [base, base + span + 64 pages)); fails counts wrong answers. */
    struct loop_sum (*ffa_loop)(void *h, const struct layout *L, uint64_t *rng, uint64_t n);
};

/* impl_mset.c, impl_rbset.c */
extern const struct impl impl_mset;
extern const struct impl impl_rb_rwlock;
extern const struct impl impl_rb_mutex;

/* Every implementation the benchmarks run, mset's flavours first. */
extern const struct impl *const bench_impls[];
extern const size_t bench_nimpls;

/*
 * An allocator that counts the bytes live, to measure memory per area for
 * mset (through mset_new_with_allocator) and the baselines alike.  Thread-safe:
 * mset frees from liburcu's call_rcu thread.
 */
struct counting_alloc {
    size_t live;        /* bytes requested and not yet freed (atomic) */
    size_t live_usable; /* the same, as malloc_usable_size() rounds them (atomic) */
};

struct mset_allocator counting_allocator(struct counting_alloc *c);

#endif
