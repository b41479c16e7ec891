/* SPDX-License-Identifier: MIT */
/* The baselines under test: rbset guarded by a rwlock, and by a mutex. */
#include "bench.h"
#include "rbset.h"

static void *rw_create(void *pt, const struct mset_allocator *a)
{
    return rbset_new(RBSET_RWLOCK, pt, a);
}

static void *mu_create(void *pt, const struct mset_allocator *a)
{
    return rbset_new(RBSET_MUTEX, pt, a);
}

static void r_destroy(void *h)
{
    rbset_destroy(h);
}

static int r_map(void *h, uintptr_t start, size_t size, unsigned flags, const struct mset_backend *be,
                 void *udata, bool unmap_overlap)
{
    return rbset_map(h, start, size, flags, be, udata, unmap_overlap);
}

static int r_unmap(void *h, uintptr_t start, size_t size)
{
    return rbset_unmap(h, start, size);
}

static int r_protect(void *h, uintptr_t start, size_t size,
                     bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg), void *arg)
{
    return rbset_protect(h, start, size, update, arg);
}

static bool r_find(void *h, uintptr_t addr, struct mset_area *out)
{
    return rbset_find(h, addr, out);
}

static bool r_find_next(void *h, uintptr_t addr, struct mset_area *out)
{
    return rbset_find_next(h, addr, out);
}

static bool r_overlaps(void *h, uintptr_t start, size_t size)
{
    return rbset_overlaps(h, start, size);
}

static int r_find_free_area(void *h, uintptr_t hint, size_t size, uintptr_t limit_start,
                            uintptr_t limit_end, size_t align, uintptr_t *out)
{
    return rbset_find_free_area(h, hint, size, limit_start, limit_end, align, out);
}

static size_t r_len(void *h)
{
    return rbset_len(h);
}

static int r_foreach(void *h, int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    return rbset_foreach(h, fn, arg);
}

static int r_check(void *h)
{
    return rbset_check(h);
}

#define LOOP(name) r_##name
#define IMPL_FIND(h, addr, out) rbset_find((h), (addr), (out))
#define IMPL_MAP(h, start, size) \
    rbset_map((h), (start), (size), MSET_READ | MSET_WRITE, &bench_noop_backend, NULL, false)
#define IMPL_UNMAP(h, start, size) rbset_unmap((h), (start), (size))
#define IMPL_FFA(h, hint, size, lo, hi, align, out) \
    rbset_find_free_area((h), (hint), (size), (lo), (hi), (align), (out))
#include "loops.h"

#define RBSET_IMPL(NAME, CREATE)                                                                    \
    {                                                                                               \
        .name = NAME, .flavour = "-", .is_mset = false, .create = CREATE, .destroy = r_destroy,    \
        .map = r_map, .unmap = r_unmap, .protect = r_protect, .find = r_find,                      \
        .find_next = r_find_next, .overlaps = r_overlaps, .find_free_area = r_find_free_area,      \
        .len = r_len, .foreach = r_foreach, .check = r_check, .find_loop = r_find_loop,            \
        .churn_loop = r_churn_loop, .split_loop = r_split_loop, .ffa_loop = r_ffa_loop,            \
    }

const struct impl impl_rb_rwlock = RBSET_IMPL("rb+rwlock", rw_create);
const struct impl impl_rb_mutex = RBSET_IMPL("rb+mutex", mu_create);
