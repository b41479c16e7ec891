/* SPDX-License-Identifier: MIT */
/*
 * The mmap backends: plain (mmap with MAP_FIXED_NOREPLACE anywhere) and
 * arena (mmap with MAP_FIXED inside one PROT_NONE reservation).
 *
 * Failure atomicity.  The core relies on a failed callback leaving its range
 * as it was.  Each callback is one system call, checked before it is made:
 *   - plain map: MAP_FIXED_NOREPLACE maps all of the range or nothing;
 *   - arena map/unmap: mmap(MAP_FIXED) replaces the old pages in one step
 *     (current kernels undo the removal when the new mapping fails);
 *   - protect: mprotect() walks the range's kernel mappings in order and can
 *     stop part-way.  The arena records each page's protection and changes
 *     back what was changed; the plain backend cannot (documented).
 * The arena also refuses what would clobber or expose its pages: a map over
 * a mapped page (-EEXIST) and a protect of a reserved one (-ENOMEM).
 *
 * The arena's page states live in their own MAP_NORESERVE mapping, one byte
 * per page, so a large reservation costs memory only where it is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "atomics.h"
#include "backend_linux.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MSET_PROT_BITS (MSET_READ | MSET_WRITE | MSET_EXEC)
#define PAGE_MAPPED 0x80u /* arena page state: mapped, low bits = MSET_ prot bits */

struct mset_arena {
    struct mset_backend be; /* first: the callbacks recover the arena from it */
    uintptr_t start, end;
    size_t npages;
    pthread_mutex_t lock; /* serializes the arena's calls, from every set */
    unsigned char *state; /* per page: 0 = reserved, PAGE_MAPPED | prot */
    size_t state_len;
    size_t mapped;          /* pages mapped; under lock */
    char name[LX_NAME_MAX]; /* "" = unnamed */
};

/* ------------------------------------------------------------- helpers */

size_t mset_lx_page_size(void)
{
    static size_t cached; /* racing first calls store the same value */
    size_t ps = atomic_load_relaxed(&cached);

    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
        atomic_store_relaxed(&cached, ps);
    }
    return ps;
}

int mset_lx_check_range(uintptr_t start, size_t size)
{
    size_t mask = mset_lx_page_size() - 1;

    if (size == 0 || (start & mask) || (size & mask) || start + size < start)
        return -EINVAL;
    return 0;
}

int mset_lx_check_name(const char *name)
{
    if (!name)
        return 0;
    size_t n = 0;
    for (const char *c = name; *c; c++, n++) {
        /* The kernel accepts printable ASCII except these (mm/madvise.c). */
        if (*c < 0x20 || *c > 0x7e || strchr("\\`$[]", *c))
            return -EINVAL;
    }
    return n < LX_NAME_MAX ? 0 : -EINVAL;
}

static int prot_of(unsigned flags)
{
    return ((flags & MSET_READ) ? PROT_READ : 0) | ((flags & MSET_WRITE) ? PROT_WRITE : 0) |
           ((flags & MSET_EXEC) ? PROT_EXEC : 0);
}

/* Best effort: kernels without CONFIG_ANON_VMA_NAME answer EINVAL. */
static int set_name(uintptr_t start, size_t size, const char *name)
{
    if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, start, size, name) == 0)
        return 0;
    return errno == EINVAL ? 0 : -errno;
}

MSET_API int mset_name_range(uintptr_t start, size_t size, const char *name)
{
    if (mset_lx_check_range(start, size) || mset_lx_check_name(name))
        return -EINVAL;
    return set_name(start, size, name);
}

/* ---------------------------------------------------------------- plain */

static int plain_map(uintptr_t start, size_t size, unsigned flags, const char *name)
{
    void *want = (void *)start;
    void *p =
        mmap(want, size, prot_of(flags), MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (p == MAP_FAILED)
        return -errno;
    if (p != want) {
        /* A kernel before 4.17 took the flag as a hint and mapped elsewhere
         * because the range is occupied. */
        munmap(p, size);
        return -EEXIST;
    }
    if (name && name[0])
        set_name(start, size, name);
    return 0;
}

static int plain_unmap(uintptr_t start, size_t size)
{
    return munmap((void *)start, size) ? -errno : 0;
}

static int plain_protect(uintptr_t start, size_t size, unsigned flags)
{
    return mprotect((void *)start, size, prot_of(flags)) ? -errno : 0;
}

/* ---------------------------------------------------------------- arena */

static bool inside(const mset_arena_t *a, uintptr_t start, size_t size)
{
    return start >= a->start && start <= a->end && size <= a->end - start;
}

static size_t page_index(const mset_arena_t *a, uintptr_t addr)
{
    return (addr - a->start) / mset_lx_page_size();
}

/* Put [start, start + size) back into the reservation. */
static int reserve(const mset_arena_t *a, uintptr_t start, size_t size, int how)
{
    void *p = mmap((void *)start, size, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | how, -1, 0);

    if (p == MAP_FAILED)
        return -errno;
    if (p != (void *)start) {
        munmap(p, size);
        return -EEXIST;
    }
    if (a->name[0])
        set_name(start, size, a->name);
    return 0;
}

static int arena_map(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags,
                     const char *name)
{
    if (!inside(a, start, size))
        return -ERANGE;
    size_t i = page_index(a, start), n = size / mset_lx_page_size();
    int rc = 0;

    pthread_mutex_lock(&a->lock);
    for (size_t k = i; k < i + n; k++) {
        if (a->state[k]) {
            rc = -EEXIST;
            goto out;
        }
    }
    void *p =
        mmap((void *)start, size, prot_of(flags), MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        /* Refill a hole if an old kernel left one (EEXIST when it did not). */
        reserve(a, start, size, MAP_FIXED_NOREPLACE);
        goto out;
    }
    memset(a->state + i, (int)(PAGE_MAPPED | (flags & MSET_PROT_BITS)), n);
    a->mapped += n;
    name = name ? name : a->name;
    if (name[0])
        set_name(start, size, name);
out:
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static int arena_unmap(mset_arena_t *a, uintptr_t start, size_t size)
{
    if (!inside(a, start, size))
        return -ERANGE;
    size_t i = page_index(a, start), n = size / mset_lx_page_size();

    pthread_mutex_lock(&a->lock);
    int rc = reserve(a, start, size, MAP_FIXED);
    if (rc == 0) {
        for (size_t k = i; k < i + n; k++)
            a->mapped -= a->state[k] != 0;
        memset(a->state + i, 0, n);
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static int arena_protect(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags)
{
    if (!inside(a, start, size))
        return -ERANGE;
    size_t ps = mset_lx_page_size(), i = page_index(a, start), n = size / ps;
    int rc = 0;

    pthread_mutex_lock(&a->lock);
    for (size_t k = i; k < i + n; k++) {
        if (!a->state[k]) {
            rc = -ENOMEM; /* as mprotect() says of unmapped pages */
            goto out;
        }
    }
    if (mprotect((void *)start, size, prot_of(flags))) {
        rc = -errno;
        /* Change back, run by run of equal old protection, whatever the
         * failed call had already changed. */
        for (size_t k = i; k < i + n;) {
            size_t e = k;
            while (e < i + n && a->state[e] == a->state[k])
                e++;
            mprotect((void *)(a->start + k * ps), (e - k) * ps, prot_of(a->state[k]));
            k = e;
        }
        goto out;
    }
    memset(a->state + i, (int)(PAGE_MAPPED | (flags & MSET_PROT_BITS)), n);
out:
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* --------------------------------------------------- shared entry points */

int mset_lx_map(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags, const char *name)
{
    int rc = mset_lx_check_range(start, size);

    if (rc)
        return rc;
    return a ? arena_map(a, start, size, flags, name) : plain_map(start, size, flags, name);
}

int mset_lx_unmap(mset_arena_t *a, uintptr_t start, size_t size)
{
    int rc = mset_lx_check_range(start, size);

    if (rc)
        return rc;
    return a ? arena_unmap(a, start, size) : plain_unmap(start, size);
}

int mset_lx_protect(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags)
{
    int rc = mset_lx_check_range(start, size);

    if (rc)
        return rc;
    return a ? arena_protect(a, start, size, flags) : plain_protect(start, size, flags);
}

/* ------------------------------------------------------------- backends */

static int plain_map_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                        unsigned flags)
{
    (void)be;
    (void)pt;
    return mset_lx_map(NULL, start, size, flags, NULL);
}

static int plain_unmap_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    (void)be;
    (void)pt;
    return mset_lx_unmap(NULL, start, size);
}

static int plain_protect_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                            unsigned flags)
{
    (void)be;
    (void)pt;
    return mset_lx_protect(NULL, start, size, flags);
}

static const struct mset_backend plain_backend = {
    .map = plain_map_cb,
    .unmap = plain_unmap_cb,
    .protect = plain_protect_cb,
};

MSET_API const struct mset_backend *mset_mmap_backend(void)
{
    return &plain_backend;
}

/* The arena embeds its backend first; the cast recovers it. */
static mset_arena_t *arena_of(const struct mset_backend *be)
{
    return (mset_arena_t *)(uintptr_t)be;
}

static int arena_map_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                        unsigned flags)
{
    (void)pt;
    return mset_lx_map(arena_of(be), start, size, flags, NULL);
}

static int arena_unmap_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    (void)pt;
    return mset_lx_unmap(arena_of(be), start, size);
}

static int arena_protect_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                            unsigned flags)
{
    (void)pt;
    return mset_lx_protect(arena_of(be), start, size, flags);
}

MSET_API mset_arena_t *mset_arena_new(uintptr_t hint, size_t size, const char *name)
{
    size_t ps = mset_lx_page_size();

    if (size == 0 || size % ps || hint % ps || mset_lx_check_name(name)) {
        errno = EINVAL;
        return NULL;
    }
    mset_arena_t *a = calloc(1, sizeof *a);
    if (!a) {
        errno = ENOMEM;
        return NULL;
    }
    a->be = (struct mset_backend){arena_map_cb, arena_unmap_cb, arena_protect_cb};
    a->npages = size / ps;
    a->state_len = (a->npages + ps - 1) / ps * ps;
    if (name)
        strcpy(a->name, name); /* length checked by mset_lx_check_name() */
    /* The reservation first: the state array could land where the hint
     * points. */
    void *p =
        mmap((void *)hint, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *st = mmap(NULL, a->state_len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (st == MAP_FAILED || p == MAP_FAILED) {
        if (st != MAP_FAILED)
            munmap(st, a->state_len);
        if (p != MAP_FAILED)
            munmap(p, size);
        free(a);
        errno = ENOMEM;
        return NULL;
    }
    a->state = st;
    a->start = (uintptr_t)p;
    a->end = a->start + size;
    if (a->name[0])
        set_name(a->start, size, a->name);
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

MSET_API const struct mset_backend *mset_arena_backend(mset_arena_t *a)
{
    return a ? &a->be : NULL;
}

MSET_API uintptr_t mset_arena_start(const mset_arena_t *a)
{
    return a ? a->start : 0;
}

MSET_API uintptr_t mset_arena_end(const mset_arena_t *a)
{
    return a ? a->end : 0;
}

MSET_API int mset_arena_destroy(mset_arena_t *a)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->lock);
    size_t mapped = a->mapped;
    pthread_mutex_unlock(&a->lock);
    if (mapped)
        return -EBUSY;
    munmap((void *)a->start, a->end - a->start);
    munmap(a->state, a->state_len);
    pthread_mutex_destroy(&a->lock);
    free(a);
    return 0;
}
