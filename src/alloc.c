/* SPDX-License-Identifier: MIT */
/*
 * Every allocation of the library goes through here, so that an embedder can
 * supply its allocator (struct mset_allocator) and tests can fail the k-th
 * allocation to prove that -ENOMEM changes nothing.
 */
#include <stdlib.h>

#include "internal.h"

void *mset_mem_alloc(const mset_t *s, size_t size)
{
    return s->alloc.alloc(s->alloc.ctx, size);
}

void mset_mem_free(const mset_t *s, void *p, size_t size)
{
    if (p)
        s->alloc.free(s->alloc.ctx, p, size);
}

struct sl_node *mset_node_alloc(mset_t *s, uintptr_t start, uintptr_t end)
{
    unsigned h = sl_random_height(&s->sl);
    void *mem = mset_mem_alloc(s, sl_node_size(h));

    return mem ? sl_node_init(mem, h, start, end) : NULL;
}

void mset_node_free(const mset_t *s, struct sl_node *x)
{
    if (x)
        mset_mem_free(s, sl_node_base(x), sl_node_size(x->height));
}
