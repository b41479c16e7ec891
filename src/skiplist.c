/* SPDX-License-Identifier: MIT */
/*
 * The RCU skip list of areas.
 *
 * Shape.  Nodes are sorted by start on level 0; level i > 0 links a random
 * half of level i - 1 (p = 1/2), and every link carries a copy of its
 * target's start (the key), so that a reader decides whether to move right
 * without loading the next node.  Each link above level 0 also has maxgap:
 * the largest free gap between consecutive level-0 nodes of its span
 * [node, next).  The gap after a node y is [y->end, y->key0); after the last
 * node it runs to UINTPTR_MAX.  The head is a sentinel (0, 0) of full height.
 *
 * Immutability.  A node's area fields never change after it is linked.  A
 * writer that shrinks, splits or re-flags an area links new nodes and unlinks
 * the old one, so a reader that holds a node pointer reads one consistent
 * version of an area (guarantee R2 in mset.h) with plain loads: the acquire
 * load of the pointer pairs with the release store that linked it.
 *
 * Replacing a run (sl_replace).  An operation turns a run of old nodes O1..Ok
 * into new nodes N1..Nm (an unmap: a left and a right remainder; a protect of
 * one area: left, middle, right; a map with unmap_overlap: left, new, right).
 * For an address a, call the answer of a list state the last node with start
 * <= a (it contains a or a is free).  The writer
 *   1. links the new nodes last first, each after the last node whose start
 *      is <= its own (so after an old node with the same start), then
 *   2. unlinks the old nodes first first.
 * Claim: in every intermediate state, the answer for every address is its
 * answer in the old state or in the new state.  In phase 1 the linked new
 * nodes are a suffix N_j..N_m: if the answer is a new node N, no new node
 * starts in (N.start, a], linked or not, so N is the new state's answer; if it
 * is an old node, every old node is still linked, so it is the old state's
 * answer.  Phase 2 is symmetric: the unlinked old nodes are a prefix.  Hence
 * an address inside an area before and after the operation is found all
 * along: no phantom gap while a split is published (R1).  Linking the new
 * nodes first-first, or unlinking the old ones last-first, breaks this:
 * debug_bug=split_order does the former and stress/ catches it.
 *
 * A reader's walk spans many such states.  It stops at a node x because x's
 * key (or x's successor's start) is beyond a.  That link existed in some
 * state while the reader ran (an unlinked node keeps its links frozen, and
 * RCU keeps everything it points to alive), and in that state x was the
 * answer, so the claim above applies to the state the reader really used.
 * The key and the pointer of a link are two words, written key first: a
 * reader may pair a key with the other version of the pointer.  Every
 * decision is safe anyway: it moves right only after checking the real
 * start of the node it moves to, and a stop justified by a key is a stop in
 * the state that key belongs to.
 *
 * Levels above 0 are shortcuts: a node is linked bottom-up and unlinked
 * top-down, so each level is always a sorted subsequence of the one below.
 *
 * Gap summaries.  maxgap is maintained as an upper bound of every gap that
 * exists both before and after the writer's operation: a new node's summary
 * is computed from its children before it is linked at that level; a span
 * that shrinks keeps its (now loose) value; before a node is unlinked at
 * level i its summary is merged into its predecessor's.  sl_fix_gaps() then
 * recomputes the exact values bottom-up over the spans the operation
 * touched, O(k + log n), and stops at the first level above the touched
 * nodes whose spans kept their values.  A lock-free sl_find_gap() therefore
 * never prunes a span that holds a gap free throughout its call, provided it
 * reads each link once: the pointer it loads is both the end of the span (or,
 * on level 0, of the gap after a node) and the next node it visits, and the
 * summary is loaded before and after that pointer (see read_span()).  Taking
 * a gap's end from key0 and the next node from next0 in a second load skipped
 * the gap in front of a node unlinked between the two loads.
 *
 * Reclamation is not done here: unlinked nodes stay chained through
 * retire_next and the caller hands them to rcu.c, which frees them after a
 * grace period.
 */
#include "skiplist.h"

#include <errno.h>
#include <stdio.h>

static inline struct sl_node *link_next(const struct sl_node *x, int i)
{
    /* Acquire pairs with the release in set_link(): the target is initialized. */
    return i ? atomic_load_acquire(&sl_up(x, i)->next) : atomic_load_acquire(&x->next0);
}

static inline uintptr_t link_key(const struct sl_node *x, int i)
{
    /* Relaxed: a key is only a hint that is always validated (see above). */
    return i ? atomic_load_relaxed(&sl_up(x, i)->key) : atomic_load_relaxed(&x->key0);
}

/* Writer: point x's level-i link at n (key first, then the pointer). */
static inline void set_link(struct sl_node *x, int i, struct sl_node *n, uintptr_t key)
{
    if (i) {
        atomic_store_relaxed(&sl_up(x, i)->key, key);
#ifdef MSET_DEBUG_BUG_RELAXED_PUBLISH
        /* Injected bug: n may be reached before its fields are visible. */
        atomic_store_relaxed(&sl_up(x, i)->next, n);
#else
        /* Release pairs with link_next(): n's fields and links are visible. */
        atomic_store_release(&sl_up(x, i)->next, n);
#endif
    } else {
        atomic_store_relaxed(&x->key0, key);
#ifdef MSET_DEBUG_BUG_RELAXED_PUBLISH
        atomic_store_relaxed(&x->next0, n);
#else
        atomic_store_release(&x->next0, n);
#endif
    }
}

/* Free bytes after y on level 0 (0 while a transition overlaps it). */
static inline uintptr_t gap_after(const struct sl_node *y)
{
    uintptr_t k = atomic_load_relaxed(&y->key0);

    return k > y->end ? k - y->end : 0;
}

/* Largest gap in the span of y at level i. */
static inline uintptr_t span_gap(const struct sl_node *y, int i)
{
    return i ? atomic_load_relaxed(sl_maxgap(y, i)) : gap_after(y);
}

static inline uintptr_t max_u(uintptr_t a, uintptr_t b)
{
    return a > b ? a : b;
}

struct sl_node *sl_node_init(void *mem, unsigned height, uintptr_t start, uintptr_t end)
{
    struct sl_node *x = (struct sl_node *)((char *)mem + (height - 1) * sizeof(struct sl_level));

    *x = (struct sl_node){
        .start = start, .end = end, .key0 = UINTPTR_MAX, .height = (uint8_t)height, .alloc_tag = 0xff
    };
    for (unsigned i = 1; i < height; i++) {
        *sl_up(x, (int)i) = (struct sl_level){ .next = NULL, .key = UINTPTR_MAX };
        *sl_maxgap(x, (int)i) = 0;
    }
    return x;
}

void sl_init(struct skiplist *sl, struct sl_node *head, uint64_t seed)
{
    /* Unused head levels claim an unbounded gap, so a reader that sees top
     * rise before the new level's summary is computed never prunes. */
    for (int i = 1; i < SL_MAXH; i++)
        *sl_maxgap(head, i) = UINTPTR_MAX;
    sl->head = head;
    sl->top = 0;
    sl->len = 0;
    sl->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

unsigned sl_random_height(struct skiplist *sl)
{
    /* xorshift64*, writer-private.  p = 1/2: with keys in the links a
     * reader pays one cache miss per move right, and p = 1/2 makes the
     * fewest moves (log2 n); p = 1/4 makes 1.5 log2 n. */
    uint64_t r = sl->rng;

    r ^= r >> 12;
    r ^= r << 25;
    r ^= r >> 27;
    sl->rng = r;
    r *= 0x2545f4914f6cdd1dull;

    unsigned h = 1;
    while (h < SL_MAXH && (r & 1) == 0) {
        h++;
        r >>= 1;
    }
    return h;
}

/* ------------------------------------------------------------------ readers */

struct sl_node *sl_floor(const struct skiplist *sl, uintptr_t addr)
{
    struct sl_node *x = sl->head;

    for (int i = atomic_load_relaxed(&sl->top); i >= 0; i--) {
        for (;;) {
            if (link_key(x, i) > addr)
                break;
            struct sl_node *n = link_next(x, i);
            if (!n || n->start > addr) /* the key belonged to another version */
                break;
            x = n;
        }
    }
    return x;
}

struct gap_query {
    uintptr_t lo, hi, align;
    size_t size;
    uintptr_t *out;
};

enum { GAP_NONE, GAP_FOUND, GAP_STOP };

/*
 * Does the gap between y and next, y's level-0 successor as this search read
 * it, hold an aligned range inside [lo, hi)?  The gap ends at next->start,
 * not at y's key0: a key0 loaded before an unlink, paired with a next0 loaded
 * after it, would hide the gap in front of the unlinked node.
 */
static bool gap_fits(const struct sl_node *y, const struct sl_node *next,
                     const struct gap_query *q)
{
    uintptr_t g0 = max_u(y->end, q->lo);
    uintptr_t g1 = next ? next->start : UINTPTR_MAX;

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

/*
 * Read y's level-i link (i >= 1) once: its target in *next, and a summary that
 * bounds every gap of [y, *next) that stays free during the search.  The
 * summary is loaded on both sides of the pointer: an unlink merges it before
 * publishing the wider span (the load after sees the merge), and
 * sl_fix_gaps() tightens it only after a link narrowed the span (the load
 * before, if it sees the tightened value, also sees the narrower pointer).
 */
static uintptr_t read_span(const struct sl_node *y, int i, const struct sl_node **next)
{
    /* Acquire pairs with the release in recompute_span(). */
    uintptr_t before = atomic_load_acquire(sl_maxgap(y, i));

    *next = link_next(y, i);
    return max_u(before, atomic_load_relaxed(sl_maxgap(y, i)));
}

static int gap_descend(const struct sl_node *y, const struct sl_node *end, int j,
                       const struct gap_query *q);

/* Search the span of z at level i, reading z's link once; *next gets z's
 * level-i successor, where the caller's walk continues. */
static int search_span(const struct sl_node *z, int i, const struct gap_query *q,
                       const struct sl_node **next)
{
    if (i == 0) {
        *next = link_next(z, 0);
        return gap_fits(z, *next, q) ? GAP_FOUND : GAP_NONE;
    }
    if (read_span(z, i, next) < q->size)
        return GAP_NONE;
    return gap_descend(z, *next, i, q);
}

/*
 * Search the span [y, end) at level j >= 1, leftmost first, where end is the
 * successor the caller read.  Each child's link is read once and serves both
 * as the end of the child's span and as the next child, so the walk covers
 * [y, end) without a hole however the links change meanwhile (it may run past
 * end if end was unlinked: searching more is harmless).
 */
static int gap_descend(const struct sl_node *y, const struct sl_node *end, int j,
                       const struct gap_query *q)
{
    uintptr_t end_key = end ? end->start : UINTPTR_MAX;
    const struct sl_node *zn;

    for (const struct sl_node *z = y; z; z = zn) {
        if (z != y && z->start >= end_key)
            break;
        if (z->start >= q->hi)
            return GAP_STOP;
        int r = search_span(z, j - 1, q, &zn);
        if (r != GAP_NONE)
            return r;
    }
    return GAP_NONE;
}

int sl_find_gap(const struct skiplist *sl, uintptr_t lo, uintptr_t hi, size_t size,
                size_t align, uintptr_t *out)
{
    const struct gap_query q = { .lo = lo, .hi = hi, .align = align, .size = size, .out = out };
    const struct sl_node *path[SL_MAXH + 1];
    int top = atomic_load_relaxed(&sl->top);
    struct sl_node *x = sl->head;

    /* path[i]: the last node of level i with start <= lo. */
    for (int i = top; i >= 0; i--) {
        for (;;) {
            if (link_key(x, i) > lo)
                break;
            struct sl_node *n = link_next(x, i);
            if (!n || n->start > lo)
                break;
            x = n;
        }
        path[i] = x;
    }
    const struct sl_node *from = link_next(path[0], 0);
    if (gap_fits(path[0], from, &q))
        return 0;

    /*
     * Ascend: at level i, search the level-(i-1) spans from `from` up to the
     * end of path[i]'s span, then continue on level i from that end.  The end
     * is read once and used for both; the walk below stops at the first node
     * at or past it, so the two levels leave no hole between them.
     */
    for (int i = 1; i <= top + 1; i++) {
        const struct sl_node *stop = i <= top ? link_next(path[i], i) : NULL;
        uintptr_t stop_key = stop ? stop->start : UINTPTR_MAX;
        const struct sl_node *yn;

        for (const struct sl_node *y = from; y; y = yn) {
            if (stop && y->start >= stop_key)
                break;
            if (y->start >= hi)
                return -ENOMEM;
            int r = search_span(y, i - 1, &q, &yn);
            if (r == GAP_FOUND)
                return 0;
            if (r == GAP_STOP)
                return -ENOMEM;
        }
        from = stop;
    }
    return -ENOMEM;
}

/* ------------------------------------------------------------------ writers */

/* Writer-side loads: the writer mutex orders them after every store. */
static inline struct sl_node *wnext(const struct sl_node *x, int i)
{
    return i ? atomic_load_relaxed(&sl_up(x, i)->next) : atomic_load_relaxed(&x->next0);
}

/* Writer-side key of x's level-i link (its successor's start). */
static inline uintptr_t wkey(const struct sl_node *x, int i)
{
    return i ? atomic_load_relaxed(&sl_up(x, i)->key) : atomic_load_relaxed(&x->key0);
}

void sl_seek(const struct skiplist *sl, uintptr_t key, struct sl_finger *f)
{
    struct sl_node *x = sl->head;
    int top = sl->top;

    for (int i = SL_MAXH - 1; i > top; i--)
        f->pred[i] = x;
    for (int i = top; i >= 0; i--) {
        while (wkey(x, i) < key)
            x = wnext(x, i);
        f->pred[i] = x;
    }
}

void sl_advance(const struct skiplist *sl, uintptr_t key, struct sl_finger *f)
{
    for (int i = SL_MAXH - 1; i >= 0; i--) {
        struct sl_node *x = f->pred[i];

        /* The level above may already be further right. */
        if (i + 1 < SL_MAXH) {
            struct sl_node *up = f->pred[i + 1];
            if (up != sl->head && (x == sl->head || up->start > x->start))
                x = up;
        }
        while (wkey(x, i) < key)
            x = wnext(x, i);
        f->pred[i] = x;
    }
}

/* Exact summary of p's span at level i >= 1, from its children at i - 1.
 * Return whether it changed. */
static bool recompute_span(struct sl_node *p, int i)
{
    const struct sl_node *stop = wnext(p, i);
    uintptr_t m = 0;

    for (const struct sl_node *y = p; y != stop; y = wnext(y, i - 1))
        m = max_u(m, span_gap(y, i - 1));
    if (m == *sl_maxgap(p, i))
        return false;
    /* Release pairs with the first load in read_span(): a reader that sees
     * this (possibly tighter) summary also sees the links it was computed
     * from. */
    atomic_store_release(sl_maxgap(p, i), m);
    return true;
}

static void link_node(struct skiplist *sl, const struct sl_finger *f, struct sl_node *nn)
{
    int h = nn->height;

    if (h - 1 > sl->top)
        atomic_store_relaxed(&sl->top, h - 1);
    if (h > sl->touched)
        sl->touched = h;
    for (int i = 0; i < h; i++) {
        struct sl_node *x = f->pred[i];
        struct sl_node *n;

        while (wkey(x, i) <= nn->start)
            x = wnext(x, i);
        n = wnext(x, i);
        /* nn is not yet reachable at level i: plain initialization order. */
        if (i) {
            sl_up(nn, i)->next = n;
            sl_up(nn, i)->key = n ? n->start : UINTPTR_MAX;
            recompute_span(nn, i);
        } else {
            nn->next0 = n;
            nn->key0 = n ? n->start : UINTPTR_MAX;
        }
        set_link(x, i, nn, nn->start);
    }
}

static void unlink_node(struct skiplist *sl, const struct sl_finger *f, struct sl_node *o)
{
    if (o->height > sl->touched)
        sl->touched = o->height;
    for (int i = o->height - 1; i >= 0; i--) {
        struct sl_node *x = f->pred[i];
        struct sl_node *n;

        while ((n = wnext(x, i)) != o)
            x = n;
        if (i) {
            /* x's span absorbs o's: keep its summary an upper bound. */
            uintptr_t m = max_u(atomic_load_relaxed(sl_maxgap(x, i)),
                                atomic_load_relaxed(sl_maxgap(o, i)));
#ifdef MSET_DEBUG_BUG_GAP_MERGE
            /* Injected bug: x's summary misses o's gaps until sl_fix_gaps(). */
            m = atomic_load_relaxed(sl_maxgap(x, i));
#endif
            atomic_store_relaxed(sl_maxgap(x, i), m);
            set_link(x, i, wnext(o, i), atomic_load_relaxed(&sl_up(o, i)->key));
        } else {
            set_link(x, 0, wnext(o, 0), atomic_load_relaxed(&o->key0));
        }
    }
}

#ifdef MSET_DEBUG_BUG_UNLINK_ORDER
static struct sl_node *reverse_chain(struct sl_node *x)
{
    struct sl_node *rev = NULL;

    while (x) {
        struct sl_node *next = x->retire_next;
        x->retire_next = rev;
        rev = x;
        x = next;
    }
    return rev;
}
#endif

void sl_replace(struct skiplist *sl, const struct sl_finger *f, struct sl_node *old,
                struct sl_node *const *nv, size_t nnew)
{
    size_t nold = 0;

#ifdef MSET_DEBUG_BUG_SPLIT_ORDER
    /* Injected bug: link the new nodes first first.  A left remainder then
     * shadows the old node before the right remainder exists. */
    for (size_t j = 0; j < nnew; j++)
        link_node(sl, f, nv[j]);
#else
    for (size_t j = nnew; j-- > 0;)
        link_node(sl, f, nv[j]);
#endif
#ifdef MSET_DEBUG_BUG_UNLINK_ORDER
    /* Injected bug: unlink the old nodes last first.  A new node spanning
     * several old ones is then shadowed by an old one below the address. */
    struct sl_node *rev = reverse_chain(old);
    for (struct sl_node *o = rev; o; o = o->retire_next) {
        unlink_node(sl, f, o);
        nold++;
    }
    reverse_chain(rev); /* the caller retires the chain from `old` */
#else
    for (struct sl_node *o = old; o; o = o->retire_next) {
        unlink_node(sl, f, o);
        nold++;
    }
#endif
    /* Relaxed: len is a statistic; one store per operation, never half. */
    atomic_store_relaxed(&sl->len, sl->len + nnew - nold);
}

void sl_fix_gaps(struct skiplist *sl, const struct sl_finger *f, uintptr_t hi)
{
    int top = sl->top;

    /*
     * Bottom-up.  Spans at levels <= touched changed shape (a node of height h
     * is a child of spans at levels 1..h) and are always recomputed; above
     * that, a level whose spans kept their values leaves every level above
     * it as it was, so stop there.
     */
    for (int i = 1; i <= top; i++) {
        struct sl_node *p = f->pred[i];
        bool changed = false;

        for (;;) {
            changed |= recompute_span(p, i);
            p = wnext(p, i);
            if (!p || p->start >= hi)
                break;
        }
        if (!changed && i >= sl->touched)
            break;
    }
    sl->touched = 0;
}

/* ------------------------------------------------------------------- check */

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "mset_check: " __VA_ARGS__);                             \
            fputc('\n', stderr);                                                     \
            return -EUCLEAN;                                                         \
        }                                                                            \
    } while (0)

int sl_check(const struct skiplist *sl)
{
    const struct sl_node *head = sl->head;
    size_t n = 0;
    int maxh = 0;

    CHECK(head->height == SL_MAXH, "head height %u", head->height);
    for (const struct sl_node *x = head; x; x = wnext(x, 0)) {
        const struct sl_node *nx = wnext(x, 0);

        if (x != head) {
            n++;
            CHECK(x->start < x->end, "empty node [%#lx, %#lx)", (unsigned long)x->start,
                  (unsigned long)x->end);
            CHECK(x->height >= 1 && x->height <= SL_MAXH, "height %u", x->height);
            if (x->height - 1 > maxh)
                maxh = x->height - 1;
        }
        CHECK(x->key0 == (nx ? nx->start : UINTPTR_MAX), "stale key0 at %#lx",
              (unsigned long)x->start);
        if (nx) {
            CHECK(nx->start >= x->end, "overlap [%#lx, %#lx) [%#lx, %#lx)",
                  (unsigned long)x->start, (unsigned long)x->end, (unsigned long)nx->start,
                  (unsigned long)nx->end);
        }
    }
    CHECK(n == sl->len, "len %zu but %zu nodes", sl->len, n);
    CHECK(maxh <= sl->top, "top %d below height %d", sl->top, maxh);

    for (int i = 1; i <= sl->top; i++) {
        /* Level i is the subsequence of level i - 1 made of nodes taller than i. */
        const struct sl_node *below = head;
        for (const struct sl_node *x = head; x; x = wnext(x, i)) {
            const struct sl_node *nx = wnext(x, i);
            uintptr_t m = 0;

            CHECK(sl_up(x, i)->key == (nx ? nx->start : UINTPTR_MAX), "stale key at level %d", i);
            while (below && below != nx) {
                if (below != x)
                    CHECK(below->height <= i, "level %d skips a node of height %u", i,
                          below->height);
                m = max_u(m, span_gap(below, i - 1));
                below = wnext(below, i - 1);
            }
            CHECK(below == nx, "level %d link not on level %d", i, i - 1);
            CHECK(*sl_maxgap(x, i) == m, "maxgap at level %d of %#lx is %#lx, want %#lx", i,
                  (unsigned long)x->start, (unsigned long)*sl_maxgap(x, i), (unsigned long)m);
        }
    }
    return 0;
}
