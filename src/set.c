/* SPDX-License-Identifier: MIT */
/*
 * Memory-set semantics on top of the skip list: map, unmap, protect, clear
 * and the lock-free readers.
 *
 * Every writer follows the same three steps, so that a failure leaves the set
 * describing exactly what the backends have:
 *   1. plan: validate, find the run of areas involved, allocate every node
 *      the operation can need (-ENOMEM here changes nothing);
 *   2. call the backends in address order, stopping at the first error;
 *   3. publish the part that the backends really did with sl_replace(), then
 *      retire the old nodes and free the unused new ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rcu.h"

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

static bool valid_range(uintptr_t start, size_t size)
{
    return size != 0 && start + size > start;
}

static void area_of(const struct sl_node *x, struct mset_area *out)
{
    *out = (struct mset_area){
        .start = x->start, .end = x->end, .flags = x->flags, .backend = x->backend, .udata = x->udata
    };
}

/* ---------------------------------------------------------------- lifetime */

MSET_API mset_t *mset_new_with_allocator(void *pt, const struct mset_allocator *a)
{
    struct mset_allocator al = { default_alloc, default_free, NULL };

    if (a)
        al = *a;
    if (!al.alloc || !al.free) {
        errno = EINVAL;
        return NULL;
    }
    mset_t *s = al.alloc(al.ctx, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    memset(s, 0, sizeof *s);
    s->alloc = al;
    s->pt = pt;
    slab_init(&s->slab, &s->alloc);
    /* The head is read by every search: 64-byte aligned like the slab nodes. */
    s->head_mem = mset_mem_alloc(s, sl_node_size(SL_MAXH) + SLAB_ALIGN - 1);
    if (!s->head_mem) {
        slab_destroy(&s->slab);
        al.free(al.ctx, s, sizeof *s);
        errno = ENOMEM;
        return NULL;
    }
    void *mem = (void *)(((uintptr_t)s->head_mem + SLAB_ALIGN - 1) & ~(uintptr_t)(SLAB_ALIGN - 1));
    sl_init(&s->sl, sl_node_init(mem, SL_MAXH, 0, 0), (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ull);
    pthread_mutex_init(&s->lock, NULL);
    ck_sequence_init(&s->seq);
    mset_rcu_init(s);
    return s;
}

MSET_API mset_t *mset_new(void *pt)
{
    return mset_new_with_allocator(pt, NULL);
}

MSET_API void mset_destroy(mset_t *s)
{
    if (!s)
        return;
    mset_rcu_drain(s);
    /* No reader may run any more (contract): free the live nodes directly. */
    struct sl_node *x = s->sl.head->next0;
    while (x) {
        struct sl_node *next = x->next0;
        mset_node_free(s, x);
        x = next;
    }
    mset_mem_free(s, s->head_mem, sl_node_size(SL_MAXH) + SLAB_ALIGN - 1);
    slab_destroy(&s->slab);
    pthread_mutex_destroy(&s->lock);
    struct mset_allocator al = s->alloc;
    al.free(al.ctx, s, sizeof *s);
}

/* ----------------------------------------------------------------- readers */

MSET_API bool mset_find(mset_t *s, uintptr_t addr, struct mset_area *out)
{
    if (!s)
        return false;
    mset_rcu_read_lock();
    const struct sl_node *x = sl_floor(&s->sl, addr);
    bool hit = addr < x->end; /* x->start <= addr; the head is (0, 0) */
    if (hit && out)
        area_of(x, out);
    mset_rcu_read_unlock();
    return hit;
}

/* Acquire pairs with the release in publish_end(): a reader that sees a
 * version sees everything published before it. */
static inline uint64_t set_version(const mset_t *s)
{
    return atomic_load_acquire(&s->version);
}

MSET_API bool mset_find_cached(mset_t *s, uintptr_t addr, struct mset_cursor *c,
                               struct mset_area *out)
{
    if (!s || !c)
        return false;
    uint64_t v = set_version(s);

    /* No writer finished publishing since the memo was taken: it is still an
     * area of the set, or the old version of one a writer is replacing. */
    if (c->set == s && c->version == v && addr >= c->area.start && addr < c->area.end) {
        if (out)
            *out = c->area;
        return true;
    }
    struct mset_area a;
    if (!mset_find(s, addr, &a))
        return false;
    /* Keep the memo only if no writer finished publishing during the lookup. */
    c->set = set_version(s) == v ? s : NULL;
    c->version = v;
    c->area = a;
    if (out)
        *out = a;
    return true;
}

MSET_API bool mset_find_next(mset_t *s, uintptr_t addr, struct mset_area *out)
{
    if (!s)
        return false;
    mset_rcu_read_lock();
    const struct sl_node *x = sl_floor(&s->sl, addr);
    if (x->end <= addr) {
        /* A transition can leave a node ending before addr after x. */
        do
            x = sl_next0(x);
        while (x && x->end <= addr);
    }
    if (x && out)
        area_of(x, out);
    mset_rcu_read_unlock();
    return x != NULL;
}

MSET_API bool mset_overlaps(mset_t *s, uintptr_t start, size_t size)
{
    if (!s || size == 0)
        return false;
    if (!valid_range(start, size)) {
        errno = EINVAL;
        return false;
    }
    mset_rcu_read_lock();
    /* The last area starting before the end is the only candidate. */
    bool hit = sl_floor(&s->sl, start + size - 1)->end > start;
    mset_rcu_read_unlock();
    return hit;
}

static int free_area_args(uintptr_t hint, size_t size, uintptr_t limit_start,
                          uintptr_t limit_end, size_t align)
{
    if (size == 0 || align == 0 || (align & (align - 1)) || size % align)
        return -EINVAL;
    if (limit_start > limit_end || hint > limit_end)
        return -EINVAL;
    return 0;
}

MSET_API int mset_find_free_area(mset_t *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                                 uintptr_t limit_end, size_t align, uintptr_t *out)
{
    if (!s || !out)
        return -EINVAL;
    int rc = free_area_args(hint, size, limit_start, limit_end, align);
    if (rc)
        return rc;
    uintptr_t lo = hint > limit_start ? hint : limit_start;
    mset_rcu_read_lock();
    rc = sl_find_gap(&s->sl, lo, limit_end, size, align, out);
    mset_rcu_read_unlock();
    return rc;
}

MSET_API size_t mset_len(mset_t *s)
{
    return s ? atomic_load_relaxed(&s->sl.len) : 0;
}

/*
 * Walk the areas from `from` (the first candidate) while they start before
 * `end`.  During a replace the walk can meet an old and a new version of the
 * same range one after the other; it keeps whichever came first, so the
 * areas it visits never overlap.  Call inside a read-side section.
 */
static int walk(const struct sl_node *from, uintptr_t start, uintptr_t end,
                int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    uintptr_t prev_end = 0;
    bool any = false;
    int rc = 0;

    for (const struct sl_node *x = from; x && x->start < end; x = sl_next0(x)) {
        if (x->end <= start || (any && x->start < prev_end))
            continue;
        struct mset_area a;
        area_of(x, &a);
        any = true;
        prev_end = x->end;
        if ((rc = fn(&a, arg)) != 0)
            break;
    }
    return rc;
}

MSET_API int mset_foreach(mset_t *s, int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    if (!s || !fn)
        return -EINVAL;
    mset_rcu_read_lock();
    int rc = walk(sl_next0(s->sl.head), 0, UINTPTR_MAX, fn, arg);
    mset_rcu_read_unlock();
    return rc;
}

MSET_API int mset_foreach_range(mset_t *s, uintptr_t start, size_t size,
                                int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    if (!s || !fn || !valid_range(start, size))
        return -EINVAL;
    mset_rcu_read_lock();
    const struct sl_node *x = sl_floor(&s->sl, start);
    if (x->end <= start)
        x = sl_next0(x);
    int rc = walk(x, start, start + size, fn, arg);
    mset_rcu_read_unlock();
    return rc;
}

struct copy {
    struct mset_area *buf;
    size_t cap, n;
};

static int copy_area(const struct mset_area *a, void *arg)
{
    struct copy *c = arg;

    if (c->n < c->cap)
        c->buf[c->n] = *a;
    c->n++;
    return 0;
}

#define SNAPSHOT_TRIES 8

MSET_API int mset_snapshot(mset_t *s, struct mset_area *buf, size_t cap, size_t *n)
{
    if (!s || !n || (!buf && cap))
        return -EINVAL;
    struct copy c = { buf, cap, 0 };
    bool exact = false;

    for (int i = 0; i < SNAPSHOT_TRIES && !exact; i++) {
        /* No writer published between begin and retry: the walk saw one
         * state of the set, the one at any instant in between. */
        unsigned version = ck_sequence_read_begin(&s->seq);
        c.n = 0;
        mset_foreach(s, copy_area, &c);
        exact = !ck_sequence_read_retry(&s->seq, version);
    }
    if (!exact) {
        pthread_mutex_lock(&s->lock);
        c.n = 0;
        mset_foreach(s, copy_area, &c);
        pthread_mutex_unlock(&s->lock);
    }
    *n = c.n;
    return c.n > cap ? -ENOSPC : 0;
}

/* ----------------------------------------------------------------- writers */

static bool valid_backend(const struct mset_backend *be)
{
    return be && be->map && be->unmap && be->protect;
}

static struct sl_node *new_node(mset_t *s, uintptr_t start, uintptr_t end, unsigned flags,
                                const struct mset_backend *be, void *udata)
{
    struct sl_node *x = mset_node_alloc(s, start, end);

    if (x) {
        x->flags = flags;
        x->backend = be;
        x->udata = udata;
    }
    return x;
}

/* A piece of an existing area: same backend, udata and (unless changed) flags. */
static struct sl_node *piece_of(mset_t *s, const struct sl_node *o, uintptr_t start, uintptr_t end,
                                unsigned flags)
{
    return new_node(s, start, end, flags, o->backend, o->udata);
}

/*
 * Position f before the run of areas intersecting [start, end) and chain the
 * run through retire_next.  Return its first node, or NULL if it is empty.
 */
static struct sl_node *find_run(mset_t *s, uintptr_t start, uintptr_t end, struct sl_finger *f)
{
    struct sl_node *head = s->sl.head;

    sl_seek(&s->sl, start, f);
    struct sl_node *first = f->pred[0];
    if (first != head && first->end > start)
        sl_seek(&s->sl, first->start, f); /* it crosses start: step before it */
    else
        first = first->next0;
    if (!first || first->start >= end)
        return NULL;

    struct sl_node *x = first;
    while (x->next0 && x->next0->start < end) {
        x->retire_next = x->next0;
        x = x->next0;
    }
    x->retire_next = NULL;
    return first;
}

static struct sl_node *run_last(struct sl_node *run)
{
    while (run->retire_next)
        run = run->retire_next;
    return run;
}

/* Bracket every publication: snapshots watch the sequence, cursors the
 * version.  Writer mutex held. */
static void publish_begin(mset_t *s)
{
    ck_sequence_write_begin(&s->seq);
}

static void publish_end(mset_t *s)
{
    ck_sequence_write_end(&s->seq);
    /* Release: pairs with the acquire in set_version(). */
    atomic_store_release(&s->version, s->version + 1);
}

/*
 * Publish: replace the run's prefix that ends before `stop` by nv[0..n) (NULL
 * entries skipped), fix the gap summaries and retire the old nodes.
 */
static void commit(mset_t *s, const struct sl_finger *f, struct sl_node *run, struct sl_node *stop,
                   struct sl_node **nv, size_t n)
{
    struct sl_node *vec[3];
    size_t nnew = 0;
    uintptr_t hi = 0;

    for (size_t i = 0; i < n; i++) {
        if (nv[i]) {
            vec[nnew++] = nv[i];
            hi = nv[i]->end;
        }
    }
    struct sl_node *old = run == stop ? NULL : run;
    for (struct sl_node *o = old; o; o = o->retire_next) {
        if (o->end > hi)
            hi = o->end;
        if (o->retire_next == stop)
            o->retire_next = NULL;
    }
    if (!old && !nnew)
        return;
    publish_begin(s);
    sl_replace(&s->sl, f, old, vec, nnew);
    sl_fix_gaps(&s->sl, f, hi);
    publish_end(s);
    mset_rcu_retire(s, old);
}

/*
 * Call the backends to unmap [start, end) from each area of the run, in
 * order.  Return 0 or the first error, with *stop = the area that failed.
 */
static int unmap_backends(mset_t *s, struct sl_node *run, uintptr_t start, uintptr_t end,
                          struct sl_node **stop)
{
    for (struct sl_node *o = run; o; o = o->retire_next) {
        uintptr_t a = o->start > start ? o->start : start;
        uintptr_t b = o->end < end ? o->end : end;
        int rc = o->backend->unmap(o->backend, s->pt, a, b - a);
        if (rc) {
            *stop = o;
            return rc;
        }
    }
    *stop = NULL;
    return 0;
}

/* Allocate the remainders of a run cut by [start, end): the left part of its
 * first area and the right part of its last. */
static int alloc_remainders(mset_t *s, struct sl_node *run, uintptr_t start, uintptr_t end,
                            struct sl_node **l, struct sl_node **r)
{
    *l = *r = NULL;
    if (!run)
        return 0;
    struct sl_node *last = run_last(run);
    if (run->start < start && !(*l = piece_of(s, run, run->start, start, run->flags)))
        return -ENOMEM;
    if (last->end > end && !(*r = piece_of(s, last, end, last->end, last->flags))) {
        mset_node_free(s, *l);
        *l = NULL;
        return -ENOMEM;
    }
    return 0;
}

/*
 * Publish an unmap of the run that the backends did up to `stop` (NULL: all
 * of it): the left remainder stands if the first area was unmapped, the right
 * one if the last was.  Free the remainders that are not used.
 */
static void publish_unmapped(mset_t *s, const struct sl_finger *f, struct sl_node *run,
                             struct sl_node *stop, struct sl_node *l, struct sl_node *r)
{
    struct sl_node *nv[2] = { stop != run ? l : NULL, stop ? NULL : r };

    commit(s, f, run, stop, nv, 2);
    if (nv[0] != l)
        mset_node_free(s, l);
    if (nv[1] != r)
        mset_node_free(s, r);
}

static int lock_writer(mset_t *s)
{
    int rc = pthread_mutex_lock(&s->lock);
    return -rc;
}

static void unlock_writer(mset_t *s)
{
    /* Release: pairs with the acquire load in backend_uffd.c, so that a
     * reader that sees the count also sees what the operation published. */
    atomic_store_release(&s->writes_done, atomic_load_relaxed(&s->writes_done) + 1);
    pthread_mutex_unlock(&s->lock);
}

MSET_API int mset_map(mset_t *s, uintptr_t start, size_t size, unsigned flags,
                      const struct mset_backend *be, void *udata, bool unmap_overlap)
{
    if (!s || !valid_backend(be) || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct sl_finger f;
    struct sl_node *l, *r, *nn, *stop = NULL;
    int rc = lock_writer(s);
    if (rc)
        return rc;

    struct sl_node *run = find_run(s, start, end, &f);
    if (run && !unmap_overlap) {
        rc = -EEXIST;
        goto out;
    }
    nn = new_node(s, start, end, flags, be, udata);
    if (!nn || alloc_remainders(s, run, start, end, &l, &r)) {
        mset_node_free(s, nn);
        rc = -ENOMEM;
        goto out;
    }

    rc = unmap_backends(s, run, start, end, &stop);
    if (rc == 0)
        rc = be->map(be, s->pt, start, size, flags);
    if (rc) {
        /* Publish what the backends did: the parts unmapped before the error. */
        publish_unmapped(s, &f, run, stop, l, r);
        mset_node_free(s, nn);
    } else {
        struct sl_node *nv[3] = { l, nn, r };
        commit(s, &f, run, NULL, nv, 3);
    }
out:
    unlock_writer(s);
    return rc;
}

MSET_API int mset_map_anywhere(mset_t *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                               uintptr_t limit_end, size_t align, unsigned flags,
                               const struct mset_backend *be, void *udata, uintptr_t *out)
{
    if (!s || !valid_backend(be))
        return -EINVAL;
    int rc = free_area_args(hint, size, limit_start, limit_end, align);
    if (rc)
        return rc;
    uintptr_t lo = hint > limit_start ? hint : limit_start;
    uintptr_t start;
    struct sl_finger f;
    struct sl_node *nn;

    if ((rc = lock_writer(s)))
        return rc;
    /* Under the writer mutex the search is exact and nothing can take the
     * range before it is mapped. */
    rc = sl_find_gap(&s->sl, lo, limit_end, size, align, &start);
    if (rc)
        goto out;
    if (!(nn = new_node(s, start, start + size, flags, be, udata))) {
        rc = -ENOMEM;
        goto out;
    }
    rc = be->map(be, s->pt, start, size, flags);
    if (rc) {
        mset_node_free(s, nn);
        goto out;
    }
    sl_seek(&s->sl, start, &f);
    commit(s, &f, NULL, NULL, &nn, 1);
    if (out)
        *out = start;
out:
    unlock_writer(s);
    return rc;
}

MSET_API int mset_unmap(mset_t *s, uintptr_t start, size_t size)
{
    if (!s || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct sl_finger f;
    struct sl_node *l, *r, *stop;
    int rc = lock_writer(s);
    if (rc)
        return rc;

    struct sl_node *run = find_run(s, start, end, &f);
    if (run && (rc = alloc_remainders(s, run, start, end, &l, &r)) == 0) {
        rc = unmap_backends(s, run, start, end, &stop);
        publish_unmapped(s, &f, run, stop, l, r);
    }
    unlock_writer(s);
    return rc;
}

MSET_API int mset_clear(mset_t *s)
{
    if (!s)
        return -EINVAL;
    struct sl_finger f;
    struct sl_node *stop;
    int rc = lock_writer(s);
    if (rc)
        return rc;

    struct sl_node *run = find_run(s, 0, UINTPTR_MAX, &f);
    if (run) {
        rc = unmap_backends(s, run, 0, UINTPTR_MAX, &stop);
        commit(s, &f, run, stop, NULL, 0);
    }
    unlock_writer(s);
    return rc;
}

/* One area a protect changes: its new flags and the nodes that replace it. */
struct change {
    struct sl_node *old;
    unsigned flags;
    uintptr_t start, end;        /* the sub-range whose flags change */
    struct sl_node *piece[3];    /* left (may be NULL), middle, right (may be NULL) */
    bool done;                   /* the backend applied it (and it was not reverted) */
};

static void free_pieces(mset_t *s, struct change *c)
{
    for (int i = 0; i < 3; i++) {
        mset_node_free(s, c->piece[i]);
        c->piece[i] = NULL;
    }
}

MSET_API int mset_protect(mset_t *s, uintptr_t start, size_t size,
                          bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg),
                          void *arg)
{
    if (!s || !update || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct sl_finger f, f0;
    struct change stackv[8], *cv = stackv;
    size_t nc = 0, k = 0;
    int rc = lock_writer(s);
    if (rc)
        return rc;

    struct sl_node *run = find_run(s, start, end, &f);
    for (struct sl_node *o = run; o; o = o->retire_next)
        k++;
    if (k > sizeof stackv / sizeof stackv[0] &&
        !(cv = mset_mem_alloc(s, k * sizeof *cv))) {
        rc = -ENOMEM;
        goto out;
    }

    /* 1. Plan: ask update() about each area, allocate the pieces. */
    for (struct sl_node *o = run; o; o = o->retire_next) {
        unsigned nf = o->flags;
        if (!update(o->flags, &nf, arg) || nf == o->flags)
            continue;
        struct change *c = &cv[nc++];
        *c = (struct change){ .old = o, .flags = nf };
        c->start = o->start > start ? o->start : start;
        c->end = o->end < end ? o->end : end;
        if (o->start < c->start && !(c->piece[0] = piece_of(s, o, o->start, c->start, o->flags)))
            rc = -ENOMEM;
        if (!(c->piece[1] = piece_of(s, o, c->start, c->end, nf)))
            rc = -ENOMEM;
        if (c->end < o->end && !(c->piece[2] = piece_of(s, o, c->end, o->end, o->flags)))
            rc = -ENOMEM;
        if (rc)
            break;
    }
    if (rc)
        goto free;

    /* 2. Backends, in order; on failure revert the failing range and what was
     * done, last first. */
    size_t ok = 0;
    for (; ok < nc; ok++) {
        struct change *c = &cv[ok];
        const struct mset_backend *be = c->old->backend;
        if ((rc = be->protect(be, s->pt, c->start, c->end - c->start, c->flags)))
            break;
        c->done = true;
    }
    if (rc) {
        /* A backend may fail part-way (mprotect() splitting mappings at
         * vm.max_map_count): put the failing range back too, best effort. */
        struct change *c = &cv[ok];
        c->old->backend->protect(c->old->backend, s->pt, c->start, c->end - c->start,
                                 c->old->flags);
        for (size_t i = ok; i-- > 0;) {
            struct change *c = &cv[i];
            const struct mset_backend *be = c->old->backend;
            if (be->protect(be, s->pt, c->start, c->end - c->start, c->old->flags) == 0)
                c->done = false;
        }
    }

    /* 3. Publish each area that changed, left to right. */
    f0 = f;
    struct sl_node *retired = NULL, **tail = &retired;
    uintptr_t hi = 0;
    for (size_t i = 0; i < nc; i++) {
        struct change *c = &cv[i];
        if (!c->done)
            continue;
        if (!retired)
            publish_begin(s);
        struct sl_node *vec[3];
        size_t n = 0;
        for (int j = 0; j < 3; j++)
            if (c->piece[j])
                vec[n++] = c->piece[j];
        sl_advance(&s->sl, c->old->start, &f);
        c->old->retire_next = NULL;
        sl_replace(&s->sl, &f, c->old, vec, n);
        *tail = c->old;
        tail = &c->old->retire_next;
        hi = c->old->end;
        memset(c->piece, 0, sizeof c->piece);
    }
    if (retired) {
        sl_fix_gaps(&s->sl, &f0, hi);
        publish_end(s);
        mset_rcu_retire(s, retired);
    }
free:
    for (size_t i = 0; i < nc; i++)
        free_pieces(s, &cv[i]);
    if (cv != stackv)
        mset_mem_free(s, cv, k * sizeof *cv);
out:
    unlock_writer(s);
    return rc;
}

MSET_API int mset_check(mset_t *s)
{
    if (!s)
        return -EINVAL;
    int rc = lock_writer(s);
    if (rc)
        return rc;
    rc = sl_check(&s->sl);
    unlock_writer(s);
    return rc;
}
