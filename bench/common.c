/* SPDX-License-Identifier: MIT */
/* The no-op backend, the counting allocator and the list of implementations. */
#include <malloc.h>
#include <stdlib.h>

#include "bench.h"

static int noop_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                    unsigned flags)
{
    (void)be, (void)pt, (void)start, (void)size, (void)flags;
    return 0;
}

static int noop_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    (void)be, (void)pt, (void)start, (void)size;
    return 0;
}

static int noop_protect(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                        unsigned flags)
{
    (void)be, (void)pt, (void)start, (void)size, (void)flags;
    return 0;
}

const struct mset_backend bench_noop_backend = { noop_map, noop_unmap, noop_protect };

const struct impl *const bench_impls[] = { &impl_mset, &impl_rb_rwlock, &impl_rb_mutex };
const size_t bench_nimpls = sizeof bench_impls / sizeof bench_impls[0];

static void *count_alloc(void *ctx, size_t size)
{
    struct counting_alloc *c = ctx;
    void *p = malloc(size);

    if (p) {
        /* Relaxed: counters only, read after the set is quiescent. */
        __atomic_fetch_add(&c->live, size, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->live_usable, malloc_usable_size(p), __ATOMIC_RELAXED);
    }
    return p;
}

static void count_free(void *ctx, void *p, size_t size)
{
    struct counting_alloc *c = ctx;

    if (!p)
        return;
    __atomic_fetch_sub(&c->live, size, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&c->live_usable, malloc_usable_size(p), __ATOMIC_RELAXED);
    free(p);
}

struct mset_allocator counting_allocator(struct counting_alloc *c)
{
    return (struct mset_allocator){ .alloc = count_alloc, .free = count_free, .ctx = c };
}
