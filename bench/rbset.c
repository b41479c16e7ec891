/* SPDX-License-Identifier: MIT */
/*
 * The rbset baseline: mset's semantics on a lock-guarded red-black tree.
 *
 * Under the lock the tree is changed in place, as a lock-based runtime would
 * do it: an unmap that cuts an area's edge moves that node's start or end, a
 * split allocates one node for the right part.  Nodes that a writer may need
 * are allocated before any backend call, so -ENOMEM changes nothing.
 *
 * Gap summaries.  Each node stores the free gap just below it (start minus
 * its predecessor's end, or start for the first node) and the largest such
 * gap in its subtree; the gap above the last node runs to UINTPTR_MAX, as in
 * mset.  find_free_area() then skips every subtree without a gap of `size`
 * bytes: O(log n) in the benchmark's worst case instead of a scan.  libbsd
 * calls RB_AUGMENT(x) at each rotation (recompute x from its children) but
 * not on the whole path of an insert or a removal, so insert_node() and
 * remove_node() recompute that path themselves afterwards (propagate()).
 * rbset_check() verifies every summary; `mset-bench --check` runs it after
 * random operations checked against mset.
 */
#include "rbset.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rbnode;
static inline void recompute(struct rbnode *x);

#define __unused __attribute__((unused))
#define RB_AUGMENT(x) recompute(x)
#include <bsd/sys/tree.h>

struct rbnode {
    RB_ENTRY(rbnode) link;
    uintptr_t start, end;
    uintptr_t gap;    /* free bytes just below start */
    uintptr_t maxgap; /* largest gap in this subtree */
    const struct mset_backend *backend;
    void *udata;
    unsigned flags;
};

RB_HEAD(rbtree, rbnode);

struct rbset {
    struct rbtree tree;
    size_t len;
    enum rbset_lock mode;
    pthread_rwlock_t rw;
    pthread_mutex_t mu;
    void *pt;
    struct mset_allocator alloc;
};

static inline int rb_cmp(const struct rbnode *a, const struct rbnode *b)
{
    return a->start < b->start ? -1 : a->start > b->start;
}

static inline void recompute(struct rbnode *x)
{
    uintptr_t m = x->gap;
    const struct rbnode *l = RB_LEFT(x, link), *r = RB_RIGHT(x, link);

    if (l && l->maxgap > m)
        m = l->maxgap;
    if (r && r->maxgap > m)
        m = r->maxgap;
    x->maxgap = m;
}

RB_GENERATE_STATIC(rbtree, rbnode, link, rb_cmp)

/* ------------------------------------------------------------------ locking */

static void rlock(struct rbset *s)
{
    if (s->mode == RBSET_RWLOCK)
        pthread_rwlock_rdlock(&s->rw);
    else
        pthread_mutex_lock(&s->mu);
}

static void wlock(struct rbset *s)
{
    if (s->mode == RBSET_RWLOCK)
        pthread_rwlock_wrlock(&s->rw);
    else
        pthread_mutex_lock(&s->mu);
}

static void unlock(struct rbset *s)
{
    if (s->mode == RBSET_RWLOCK)
        pthread_rwlock_unlock(&s->rw);
    else
        pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------- tree helpers */

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ctx, void *p, size_t size)
{
    (void)ctx, (void)size;
    free(p);
}

static struct rbnode *node_new(struct rbset *s)
{
    return s->alloc.alloc(s->alloc.ctx, sizeof(struct rbnode));
}

static void node_free(struct rbset *s, struct rbnode *x)
{
    if (x)
        s->alloc.free(s->alloc.ctx, x, sizeof *x);
}

static void propagate(struct rbnode *x)
{
    for (; x; x = RB_PARENT(x, link))
        recompute(x);
}

static struct rbnode *next_of(struct rbnode *x)
{
    return rbtree_RB_NEXT(x);
}

static struct rbnode *prev_of(struct rbnode *x)
{
    return rbtree_RB_PREV(x);
}

/* The last node with start <= addr, or NULL. */
static struct rbnode *floor_of(const struct rbset *s, uintptr_t addr)
{
    struct rbnode *x = RB_ROOT(&s->tree), *best = NULL;

    while (x) {
        if (x->start <= addr) {
            best = x;
            x = RB_RIGHT(x, link);
        } else {
            x = RB_LEFT(x, link);
        }
    }
    return best;
}

static void set_gap(struct rbnode *x, const struct rbnode *pred)
{
    x->gap = x->start - (pred ? pred->end : 0);
}

static void insert_node(struct rbset *s, struct rbnode *n)
{
    set_gap(n, floor_of(s, n->start));
    n->maxgap = n->gap;
    RB_INSERT(rbtree, &s->tree, n);
    propagate(n); /* every node whose subtree gained n is on n's path */
    struct rbnode *succ = next_of(n);
    if (succ) {
        set_gap(succ, n);
        propagate(succ);
    }
    s->len++;
}

static void remove_node(struct rbset *s, struct rbnode *x)
{
    struct rbnode *pred = prev_of(x), *succ = next_of(x), *deep;

    /* The lowest node whose subtree loses something: the parent of the node
     * that is unlinked from its place (x, or x's successor moved into x's
     * place).  Rotations keep it below every node they leave stale. */
    if (RB_LEFT(x, link) && RB_RIGHT(x, link)) {
        struct rbnode *y = RB_RIGHT(x, link);
        while (RB_LEFT(y, link))
            y = RB_LEFT(y, link);
        deep = RB_PARENT(y, link) == x ? y : RB_PARENT(y, link);
    } else {
        deep = RB_PARENT(x, link);
    }
    RB_REMOVE(rbtree, &s->tree, x);
    propagate(deep);
    if (succ) {
        set_gap(succ, pred);
        propagate(succ);
    }
    s->len--;
}

/* Shrink x from above: [start, end) -> [start, e). */
static void set_end(struct rbnode *x, uintptr_t e)
{
    x->end = e;
    struct rbnode *succ = next_of(x);
    if (succ) {
        set_gap(succ, x);
        propagate(succ);
    }
}

/* Shrink x from below: [start, end) -> [b, end); the order is unchanged. */
static void set_start(struct rbnode *x, uintptr_t b)
{
    x->start = b;
    set_gap(x, prev_of(x));
    propagate(x);
}

static void area_of(const struct rbnode *x, struct mset_area *out)
{
    *out = (struct mset_area){
        .start = x->start, .end = x->end, .flags = x->flags, .backend = x->backend, .udata = x->udata
    };
}

/* The first node intersecting [start, end), or NULL. */
static struct rbnode *run_first(const struct rbset *s, uintptr_t start, uintptr_t end)
{
    struct rbnode *x = floor_of(s, start);

    if (!x || x->end <= start)
        x = x ? next_of(x) : RB_MIN(rbtree, (struct rbtree *)&s->tree);
    return x && x->start < end ? x : NULL;
}

static bool valid_range(uintptr_t start, size_t size)
{
    return size != 0 && start + size > start;
}

static bool valid_backend(const struct mset_backend *be)
{
    return be && be->map && be->unmap && be->protect;
}

/* ----------------------------------------------------------------- lifetime */

struct rbset *rbset_new(enum rbset_lock mode, void *pt, const struct mset_allocator *a)
{
    struct mset_allocator al = { default_alloc, default_free, NULL };

    if (a)
        al = *a;
    struct rbset *s = al.alloc(al.ctx, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    memset(s, 0, sizeof *s);
    RB_INIT(&s->tree);
    s->mode = mode;
    s->pt = pt;
    s->alloc = al;
    pthread_rwlock_init(&s->rw, NULL);
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void free_subtree(struct rbset *s, struct rbnode *x)
{
    while (x) {
        free_subtree(s, RB_LEFT(x, link));
        struct rbnode *r = RB_RIGHT(x, link);
        node_free(s, x);
        x = r;
    }
}

void rbset_destroy(struct rbset *s)
{
    if (!s)
        return;
    free_subtree(s, RB_ROOT(&s->tree));
    pthread_rwlock_destroy(&s->rw);
    pthread_mutex_destroy(&s->mu);
    struct mset_allocator al = s->alloc;
    al.free(al.ctx, s, sizeof *s);
}

/* ------------------------------------------------------------------ writers */

/*
 * Unmap [start, end) from the run starting at x, area by area in address
 * order, stopping at the first backend error.  `split` is the node for the
 * right part when x contains the range (NULL otherwise); *used tells whether
 * it was taken.
 */
static int unmap_run(struct rbset *s, struct rbnode *x, uintptr_t start, uintptr_t end,
                     struct rbnode *split, bool *used)
{
    *used = false;
    while (x && x->start < end) {
        struct rbnode *next = next_of(x);
        uintptr_t a = x->start > start ? x->start : start;
        uintptr_t b = x->end < end ? x->end : end;
        int rc = x->backend->unmap(x->backend, s->pt, a, b - a);
        if (rc)
            return rc;
        if (x->start < start && x->end > end) {
            *split = *x;
            split->start = end;
            set_end(x, start);
            insert_node(s, split);
            *used = true;
        } else if (x->start < start) {
            set_end(x, start);
        } else if (x->end > end) {
            set_start(x, end);
        } else {
            remove_node(s, x);
            node_free(s, x);
        }
        x = next;
    }
    return 0;
}

static bool needs_split(const struct rbnode *first, uintptr_t start, uintptr_t end)
{
    return first && first->start < start && first->end > end;
}

int rbset_map(struct rbset *s, uintptr_t start, size_t size, unsigned flags,
              const struct mset_backend *be, void *udata, bool unmap_overlap)
{
    if (!s || !valid_backend(be) || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct rbnode *nn = NULL, *split = NULL;
    bool used = false;
    int rc = 0;

    wlock(s);
    struct rbnode *first = run_first(s, start, end);
    if (first && !unmap_overlap) {
        rc = -EEXIST;
        goto out;
    }
    if (!(nn = node_new(s)) || (needs_split(first, start, end) && !(split = node_new(s)))) {
        rc = -ENOMEM;
        goto out;
    }
    if (first)
        rc = unmap_run(s, first, start, end, split, &used);
    if (rc == 0)
        rc = be->map(be, s->pt, start, size, flags);
    if (rc == 0) {
        *nn = (struct rbnode){ .start = start, .end = end, .flags = flags, .backend = be, .udata = udata };
        insert_node(s, nn);
        nn = NULL;
    }
out:
    node_free(s, nn);
    if (!used)
        node_free(s, split);
    unlock(s);
    return rc;
}

int rbset_unmap(struct rbset *s, uintptr_t start, size_t size)
{
    if (!s || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct rbnode *split = NULL;
    bool used = false;
    int rc = 0;

    wlock(s);
    struct rbnode *first = run_first(s, start, end);
    if (first) {
        if (needs_split(first, start, end) && !(split = node_new(s)))
            rc = -ENOMEM;
        else
            rc = unmap_run(s, first, start, end, split, &used);
        if (!used)
            node_free(s, split);
    }
    unlock(s);
    return rc;
}

/* One area a protect changes (as in mset's set.c). */
struct change {
    struct rbnode *x;
    unsigned flags;
    uintptr_t start, end;      /* the sub-range whose flags change */
    struct rbnode *left, *right;
    bool done;
};

int rbset_protect(struct rbset *s, uintptr_t start, size_t size,
                  bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg), void *arg)
{
    if (!s || !update || !valid_range(start, size))
        return -EINVAL;
    uintptr_t end = start + size;
    struct change stackv[8], *cv = stackv;
    size_t nc = 0, k = 0;
    int rc = 0;

    wlock(s);
    struct rbnode *first = run_first(s, start, end);
    for (struct rbnode *x = first; x && x->start < end; x = next_of(x))
        k++;
    if (k > sizeof stackv / sizeof stackv[0] && !(cv = s->alloc.alloc(s->alloc.ctx, k * sizeof *cv))) {
        rc = -ENOMEM;
        goto out;
    }

    /* 1. Plan: ask update() about each area, allocate the pieces. */
    for (struct rbnode *x = first; x && x->start < end; x = next_of(x)) {
        unsigned nf = x->flags;
        if (!update(x->flags, &nf, arg) || nf == x->flags)
            continue;
        struct change *c = &cv[nc++];
        *c = (struct change){ .x = x, .flags = nf };
        c->start = x->start > start ? x->start : start;
        c->end = x->end < end ? x->end : end;
        if ((x->start < c->start && !(c->left = node_new(s))) ||
            (c->end < x->end && !(c->right = node_new(s)))) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc)
        goto free;

    /* 2. Backends in order; on failure put the failing range back (it may
     * have failed part-way; best effort), then revert what was done, last
     * first. */
    size_t ok = 0;
    for (; ok < nc; ok++) {
        struct change *c = &cv[ok];
        const struct mset_backend *be = c->x->backend;
        if ((rc = be->protect(be, s->pt, c->start, c->end - c->start, c->flags)))
            break;
        c->done = true;
    }
    if (rc) {
        struct change *c = &cv[ok];
        c->x->backend->protect(c->x->backend, s->pt, c->start, c->end - c->start, c->x->flags);
        for (size_t i = ok; i-- > 0;) {
            struct change *c = &cv[i];
            const struct mset_backend *be = c->x->backend;
            if (be->protect(be, s->pt, c->start, c->end - c->start, c->x->flags) == 0)
                c->done = false;
        }
    }

    /* 3. Apply: x keeps the changed part, new nodes take the rest. */
    for (size_t i = 0; i < nc; i++) {
        struct change *c = &cv[i];
        struct rbnode *x = c->x;
        if (!c->done)
            continue;
        if (c->right) {
            *c->right = *x;
            c->right->start = c->end;
            set_end(x, c->end);
            insert_node(s, c->right);
            c->right = NULL;
        }
        if (c->left) {
            *c->left = *x;
            c->left->end = c->start;
            set_start(x, c->start);
            insert_node(s, c->left);
            c->left = NULL;
        }
        x->flags = c->flags;
    }
free:
    for (size_t i = 0; i < nc; i++) {
        node_free(s, cv[i].left);
        node_free(s, cv[i].right);
    }
    if (cv != stackv)
        s->alloc.free(s->alloc.ctx, cv, k * sizeof *cv);
out:
    unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ readers */

bool rbset_find(struct rbset *s, uintptr_t addr, struct mset_area *out)
{
    if (!s)
        return false;
    rlock(s);
    const struct rbnode *x = floor_of(s, addr);
    bool hit = x && addr < x->end;
    if (hit && out)
        area_of(x, out);
    unlock(s);
    return hit;
}

bool rbset_find_next(struct rbset *s, uintptr_t addr, struct mset_area *out)
{
    if (!s)
        return false;
    rlock(s);
    struct rbnode *x = floor_of(s, addr);
    if (!x || x->end <= addr)
        x = x ? next_of(x) : RB_MIN(rbtree, &s->tree);
    if (x && out)
        area_of(x, out);
    unlock(s);
    return x != NULL;
}

bool rbset_overlaps(struct rbset *s, uintptr_t start, size_t size)
{
    if (!s || size == 0)
        return false;
    if (!valid_range(start, size)) {
        errno = EINVAL;
        return false;
    }
    rlock(s);
    const struct rbnode *x = floor_of(s, start + size - 1);
    bool hit = x && x->end > start;
    unlock(s);
    return hit;
}

struct gap_query {
    uintptr_t lo, hi, align;
    size_t size;
    uintptr_t *out;
};

enum { GAP_NONE, GAP_FOUND, GAP_STOP };

/* Does the gap [g0, g1) hold an aligned range inside [lo, hi)? */
static bool gap_fits(uintptr_t g0, uintptr_t g1, const struct gap_query *q)
{
    if (g0 < q->lo)
        g0 = q->lo;
    if (g1 > q->hi)
        g1 = q->hi;
    if (g0 >= g1)
        return false;
    uintptr_t a = (g0 + q->align - 1) & ~(q->align - 1);
    if (a < g0 || a >= g1 || g1 - a < q->size)
        return false;
    *q->out = a;
    return true;
}

/* The lowest fit in the gaps below the nodes of x's subtree, in order. */
static int gap_search(const struct rbnode *x, const struct gap_query *q)
{
    while (x && x->maxgap >= q->size) {
        /* Gaps on the left end below x->start: useless unless above lo. */
        if (x->start > q->lo) {
            int r = gap_search(RB_LEFT(x, link), q);
            if (r != GAP_NONE)
                return r;
        }
        uintptr_t g0 = x->start - x->gap;
        if (g0 >= q->hi)
            return GAP_STOP; /* this gap and all later ones start too high */
        if (x->gap >= q->size && gap_fits(g0, x->start, q))
            return GAP_FOUND;
        x = RB_RIGHT(x, link);
    }
    return GAP_NONE;
}

int rbset_find_free_area(struct rbset *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                         uintptr_t limit_end, size_t align, uintptr_t *out)
{
    if (!s || !out)
        return -EINVAL;
    if (size == 0 || align == 0 || (align & (align - 1)) || size % align)
        return -EINVAL;
    if (limit_start > limit_end || hint > limit_end)
        return -EINVAL;
    const struct gap_query q = {
        .lo = hint > limit_start ? hint : limit_start, .hi = limit_end, .align = align,
        .size = size, .out = out
    };

    rlock(s);
    int r = gap_search(RB_ROOT(&s->tree), &q);
    if (r == GAP_NONE) {
        /* The gap above the last area. */
        const struct rbnode *last = RB_MAX(rbtree, &s->tree);
        r = gap_fits(last ? last->end : 0, UINTPTR_MAX, &q) ? GAP_FOUND : GAP_STOP;
    }
    unlock(s);
    return r == GAP_FOUND ? 0 : -ENOMEM;
}

size_t rbset_len(struct rbset *s)
{
    if (!s)
        return 0;
    rlock(s);
    size_t n = s->len;
    unlock(s);
    return n;
}

int rbset_foreach(struct rbset *s, int (*fn)(const struct mset_area *a, void *arg), void *arg)
{
    if (!s || !fn)
        return -EINVAL;
    int rc = 0;

    rlock(s);
    for (struct rbnode *x = RB_MIN(rbtree, &s->tree); x && rc == 0; x = next_of(x)) {
        struct mset_area a;
        area_of(x, &a);
        rc = fn(&a, arg);
    }
    unlock(s);
    return rc;
}

/* ------------------------------------------------------------------- check */

struct check_state {
    const struct rbnode *prev;
    size_t count;
    bool bad;
};

static void bad(struct check_state *cs, const struct rbnode *x, const char *what)
{
    if (!cs->bad)
        fprintf(stderr, "rbset_check: %s at [%#lx, %#lx)\n", what, (unsigned long)x->start,
                (unsigned long)x->end);
    cs->bad = true;
}

/* In-order walk; returns the black height of x's subtree. */
static int check_subtree(const struct rbnode *x, const struct rbnode *parent,
                         struct check_state *cs)
{
    if (!x)
        return 1;
    const struct rbnode *l = RB_LEFT(x, link), *r = RB_RIGHT(x, link);
    if (RB_PARENT(x, link) != parent)
        bad(cs, x, "wrong parent link");
    if (RB_COLOR(x, link) == RB_RED && ((l && RB_COLOR(l, link) == RB_RED) ||
                                        (r && RB_COLOR(r, link) == RB_RED)))
        bad(cs, x, "red node with a red child");
    int hl = check_subtree(l, x, cs);
    if (x->start >= x->end)
        bad(cs, x, "empty area");
    uintptr_t prev_end = cs->prev ? cs->prev->end : 0;
    if (cs->prev && prev_end > x->start)
        bad(cs, x, "areas out of order or overlapping");
    else if (x->gap != x->start - prev_end)
        bad(cs, x, "wrong gap");
    cs->prev = x;
    cs->count++;
    int hr = check_subtree(r, x, cs);
    uintptr_t m = x->gap;
    if (l && l->maxgap > m)
        m = l->maxgap;
    if (r && r->maxgap > m)
        m = r->maxgap;
    if (x->maxgap != m)
        bad(cs, x, "wrong subtree gap summary");
    if (hl != hr)
        bad(cs, x, "unequal black heights");
    return hl + (RB_COLOR(x, link) == RB_BLACK);
}

int rbset_check(struct rbset *s)
{
    if (!s)
        return -EINVAL;
    struct check_state cs = { 0 };

    wlock(s);
    const struct rbnode *root = RB_ROOT(&s->tree);
    check_subtree(root, NULL, &cs);
    if (root && RB_COLOR(root, link) != RB_BLACK)
        bad(&cs, root, "red root");
    if (cs.count != s->len) {
        fprintf(stderr, "rbset_check: %zu nodes, len %zu\n", cs.count, s->len);
        cs.bad = true;
    }
    unlock(s);
    return cs.bad ? -EUCLEAN : 0;
}
