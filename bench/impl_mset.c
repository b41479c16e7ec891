/* SPDX-License-Identifier: MIT */
/* mset under test, through its public API only. */
#include "bench.h"

static void *m_create(void *pt, const struct mset_allocator *a)
{
    return mset_new_with_allocator(pt, a);
}

static void m_destroy(void *h)
{
    mset_destroy(h);
}

static int m_map(void *h, uintptr_t start, size_t size, unsigned flags, const struct mset_backend *be,
                 void *udata, bool unmap_overlap)
{
    return mset_map(h, start, size, flags, be, udata, unmap_overlap);
}

static int m_unmap(void *h, uintptr_t start, size_t size)
{
    return mset_unmap(h, start, size);
}

static int m_protect(void *h, uintptr_t start, size_t size,
                     bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg), void *arg)
{
    return mset_protect(h, start, size, update, arg);
}

static bool m_find(void *h, uintptr_t addr, struct mset_area *out)
{
    return mset_find(h, addr, out);
}

static bool m_find_next(void *h, uintptr_t addr, struct mset_area *out)
{
    return mset_find_next(h, addr, out);
}

static bool m_overlaps(void *h, uintptr_t start, size_t size)
{
    return mset_overlaps(h, start, size);
}

static int m_find_free_area(void *h, uintptr_t hint, size_t size, uintptr_t limit_start,
                            uintptr_t limit_end, size_t align, uintptr_t *out)
{
    return mset_find_free_area(h, hint, size, limit_start, limit_end, align, out);
}

static size_t m_len(void *h)
{
    return mset_len(h);
}

static int m_foreach(void *h, int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    return mset_foreach(h, fn, arg);
}

static int m_check(void *h)
{
    return mset_check(h);
}

#define LOOP(name) m_##name
#define IMPL_FIND(h, addr, out) mset_find((h), (addr), (out))
#define IMPL_MAP(h, start, size) \
    mset_map((h), (start), (size), MSET_READ | MSET_WRITE, &bench_noop_backend, NULL, false)
#define IMPL_UNMAP(h, start, size) mset_unmap((h), (start), (size))
#define IMPL_FFA(h, hint, size, lo, hi, align, out) \
    mset_find_free_area((h), (hint), (size), (lo), (hi), (align), (out))
#include "loops.h"

const struct impl impl_mset = {
    .name = "mset",
    .flavour = "urcu-bp",
    .is_mset = true,
    .create = m_create,
    .destroy = m_destroy,
    .map = m_map,
    .unmap = m_unmap,
    .protect = m_protect,
    .find = m_find,
    .find_next = m_find_next,
    .overlaps = m_overlaps,
    .find_free_area = m_find_free_area,
    .len = m_len,
    .foreach = m_foreach,
    .check = m_check,
    .find_loop = m_find_loop,
    .churn_loop = m_churn_loop,
    .split_loop = m_split_loop,
    .ffa_loop = m_ffa_loop,
};
