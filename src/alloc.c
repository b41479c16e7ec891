/* SPDX-License-Identifier: MIT */
/*
 * Every allocation of the library goes through here, so that an embedder can
 * supply its allocator (struct mset_allocator) and tests can fail the k-th
 * allocation to prove that -ENOMEM changes nothing.
 */
#include <stdlib.h>

#include "internal.h"

#ifdef MSET_FAULT_INJECTION
/*
 * Test builds (meson -Dfault_injection=true) can fail the k-th allocation,
 * counting both calls to the set's allocator and node slots taken from the
 * slab, which may not call the allocator at all.  The counter is global:
 * tests that use it run one set at a time.
 */
static long countdown = -1;

MSET_API void mset_fault_inject(long k)
{
    atomic_store_relaxed(&countdown, k);
}

MSET_API long mset_fault_pending(void)
{
    return atomic_load_relaxed(&countdown);
}

static long leaked_slots;

MSET_API long mset_fault_leaked_slots(void)
{
    return atomic_load_relaxed(&leaked_slots);
}

void mset_fault_note_leaked_slots(long n)
{
    /* Relaxed: a test reads it after mset_destroy() returned. */
    __atomic_add_fetch(&leaked_slots, n, __ATOMIC_RELAXED);
}

static bool fail_now(void)
{
    return atomic_load_relaxed(&countdown) >= 0 && __atomic_fetch_sub(&countdown, 1, __ATOMIC_RELAXED) == 0;
}
#else
static inline bool fail_now(void)
{
    return false;
}
#endif

void *mset_mem_alloc(const mset_t *s, size_t size)
{
    if (fail_now())
        return NULL;
    return s->alloc.alloc(s->alloc.ctx, size);
}

void mset_mem_free(const mset_t *s, void *p, size_t size)
{
    if (p)
        s->alloc.free(s->alloc.ctx, p, size);
}

/* A node's alloc_tag is its slot index in a slab block, or SLAB_NONE if it
 * came from the allocator directly (the head, and nodes too tall for a slab). */
struct sl_node *mset_node_alloc(mset_t *s, uintptr_t start, uintptr_t end)
{
    unsigned h = sl_random_height(&s->sl);
    size_t size = sl_node_size(h);
    int cls = slab_class(size);
    uint8_t tag = SLAB_NONE;
    void *mem;

    if (fail_now())
        return NULL;
    if (cls >= 0) {
        slab_lock(&s->slab);
        mem = slab_alloc_locked(&s->slab, cls, &tag);
        slab_unlock(&s->slab);
    } else {
        mem = mset_mem_alloc(s, size);
    }
    if (!mem)
        return NULL;
    struct sl_node *x = sl_node_init(mem, h, start, end);
    x->alloc_tag = tag;
    return x;
}

static void node_free_locked(mset_t *s, struct sl_node *x)
{
    size_t size = sl_node_size(x->height);

    if (x->alloc_tag == SLAB_NONE)
        mset_mem_free(s, sl_node_base(x), size);
    else
        slab_free_locked(&s->slab, sl_node_base(x), slab_class(size), x->alloc_tag);
}

void mset_node_free(mset_t *s, struct sl_node *x)
{
    if (!x)
        return;
    slab_lock(&s->slab);
    node_free_locked(s, x);
    slab_unlock(&s->slab);
}

void mset_node_free_chain(mset_t *s, struct sl_node *x)
{
    slab_lock(&s->slab);
    while (x) {
        struct sl_node *next = x->retire_next;
        node_free_locked(s, x);
        x = next;
    }
    slab_unlock(&s->slab);
}
