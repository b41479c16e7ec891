/* SPDX-License-Identifier: MIT */
#include "failing_alloc.h"

#include <stdint.h>
#include <stdlib.h>

/* The set of failing_alloc_pin_set(); one set at a time. */
static _Alignas(64) unsigned char set_mem[4096];

static void *fa_alloc(void *ctx, size_t size)
{
    struct failing_alloc *fa = ctx;
    long i = fa->calls++;

    if (fa->fail_at >= 0 && (i == fa->fail_at || (fa->sticky && i > fa->fail_at))) {
        fa->failed++;
        return NULL;
    }
    void *p;
    if (fa->pin_set && size <= sizeof set_mem) {
        fa->pin_set = false;
        p = fa->pinned = set_mem;
    } else {
        p = malloc(size);
    }
    if (p) {
        /* Relaxed: a count, read after mset_destroy() has joined the frees. */
        __atomic_add_fetch(&fa->live, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&fa->bytes, (long)size, __ATOMIC_RELAXED);
    }
    return p;
}

/* Runs in writer threads and in liburcu's call_rcu thread. */
static void fa_free(void *ctx, void *p, size_t size)
{
    struct failing_alloc *fa = ctx;

    __atomic_sub_fetch(&fa->live, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&fa->bytes, (long)size, __ATOMIC_RELAXED);
    if (p == set_mem)
        fa->pinned = NULL; /* the set is freed last, by mset_destroy() */
    else
        free(p);
}

struct mset_allocator failing_alloc_init(struct failing_alloc *fa)
{
    *fa = (struct failing_alloc){ .fail_at = -1 };
    return (struct mset_allocator){ fa_alloc, fa_free, fa };
}

void failing_alloc_arm(struct failing_alloc *fa, long after, bool sticky)
{
    fa->fail_at = fa->calls + after;
    fa->sticky = sticky;
}

void failing_alloc_disarm(struct failing_alloc *fa)
{
    fa->fail_at = -1;
    fa->sticky = false;
}

void failing_alloc_pin_set(struct failing_alloc *fa)
{
    fa->pin_set = fa->pinned == NULL;
}

long failing_alloc_live(const struct failing_alloc *fa)
{
    return __atomic_load_n(&fa->live, __ATOMIC_RELAXED);
}

long failing_alloc_bytes(const struct failing_alloc *fa)
{
    return __atomic_load_n(&fa->bytes, __ATOMIC_RELAXED);
}
