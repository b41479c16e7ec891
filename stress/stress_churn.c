/* SPDX-License-Identifier: MIT */
/*
 * stress_churn: readers check the header's guarantees R1-R3 on every call
 * while several writers churn one set with every kind of writer operation.
 *
 * Layout.  Addresses are counted in units of UNIT = 0x100 bytes (byte
 * granular on purpose: the core must not care about pages).
 *
 *   BASE
 *   | S0 |       slot 0 (W units)       | S1 |  slot 1  | ... | Sn-1 | slot n-1 |  nothing
 *
 * Cell k is a stable area Sk (1-3 units) followed by slot k.  No writer ever
 * touches a stable area: readers must always find it, exactly.  Each slot
 * starts with random areas made of whole units.  About a quarter of the
 * slots are frozen (never touched: more stable areas, and stable gaps for
 * mset_find_free_area()); the others are churned.  A writer takes a churned
 * slot (one writer per slot at a time, each writer in its own slot) and
 * applies random operations confined to it: map (expecting -EEXIST when the
 * range is taken), map with unmap_overlap, unmap of a sub-range (often
 * strictly inside one area: a split), protect (often strictly inside one
 * area: a three-way split; with an update() that sometimes declines), and
 * map_anywhere with a window inside the slot.  The writer predicts every
 * return value, every update() call and the result of map_anywhere from its
 * model of the slot, and checks the backend's page table afterwards.
 *
 * What a reader knows.  Every slot has a version number v and a history of
 * its last H states.  Before an operation that changes slot k, its writer
 * writes the new state S(v+1) into the history and raises begun[k] to v+1;
 * after the operation returns it raises done[k] to v+1.  A reader loads
 * lo = done[k] before its call and hi = begun[k] after it: every operation
 * that finished before the call is <= lo, and the call can only have
 * observed operations <= hi (an operation's stores to the set come after its
 * begun store; x86 and the acquire loads of the list's links order them).
 * So the set held, during the call, only states of slot k between S(lo) and
 * S(hi), and the reader checks:
 *   R1  an address mapped in every state S(lo..hi) is found;
 *   R2  a returned area is exactly (start, end, flags, backend, udata) an
 *       area of one of S(lo..hi), and contains the address (find, and
 *       find_cached with a per-reader cursor);
 *   overlaps() and find_next() give the answer of one of S(lo..hi);
 *   find_free_area() returns a range free in one of S(lo..hi), and never
 *       a range above one that is free in all of them (stable gaps of
 *       frozen slots make this an exact check);
 *   R3  foreach() and foreach_range() visit areas in order, non-overlapping,
 *       each stable area once, each churned area present in all states
 *       S(lo..hi) once, and nothing that is not an area of one of them;
 *   snapshot() holds each slot as exactly one whole state S(v);
 *   len() lies between the sums of the smallest and largest states.
 * If the history was overwritten during a call (more than H operations on
 * one slot), the reader keeps only the checks that need no history and
 * counts the call as "lost".  Calls with hi > lo raced a writer in their
 * slot: their count shows how hard R1 was exercised.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mset.h"

_Static_assert(sizeof(uintptr_t) == 8, "udata packs a slot and a tag into a pointer");

#define UNIT ((uintptr_t)0x100)
#define W 24        /* units per slot */
#define MAXA W      /* areas per slot state: at most one per unit */
#define H 16        /* versions of each slot kept for readers */
#define BASE ((uintptr_t)0x10000000)
#define HIST_BUSY UINT64_MAX
#define CHURN_FLAGS 7u /* churned areas have flags 1..7 */
#define STABLE_FLAGS(k) (0x100u + (unsigned)(k))

/* ------------------------------------------------------------------ model */

/* One area of a slot, in units relative to the slot. */
struct marea {
    uint8_t s, e, flags, be;
    uint32_t tag; /* which map created it (pieces keep it) */
};

struct state {
    unsigned n;
    struct marea a[MAXA]; /* sorted, non-overlapping */
};

static uint64_t pack(struct marea m)
{
    return (uint64_t)m.s | (uint64_t)m.e << 8 | (uint64_t)m.flags << 16 | (uint64_t)m.be << 24 |
           (uint64_t)m.tag << 32;
}

static struct marea unpack(uint64_t v)
{
    return (struct marea){ (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24),
                           (uint32_t)(v >> 32) };
}

static bool marea_eq(struct marea x, struct marea y)
{
    return pack(x) == pack(y);
}

static bool st_eq(const struct state *x, const struct state *y)
{
    if (x->n != y->n)
        return false;
    for (unsigned i = 0; i < x->n; i++)
        if (!marea_eq(x->a[i], y->a[i]))
            return false;
    return true;
}

/* Index of the area holding unit u, or -1. */
static int st_at(const struct state *st, unsigned u)
{
    for (unsigned i = 0; i < st->n; i++)
        if (st->a[i].s <= u && u < st->a[i].e)
            return (int)i;
    return -1;
}

static bool st_any_in(const struct state *st, unsigned s, unsigned e)
{
    for (unsigned i = 0; i < st->n; i++)
        if (st->a[i].s < e && st->a[i].e > s)
            return true;
    return false;
}

static bool st_has(const struct state *st, struct marea m)
{
    for (unsigned i = 0; i < st->n; i++)
        if (marea_eq(st->a[i], m))
            return true;
    return false;
}

static void st_push(struct state *st, struct marea m)
{
    if (st->n >= MAXA)
        stress_fail("model overflow (harness bug)");
    st->a[st->n++] = m;
}

/* Remove [s, e) from every area: the reference unmap. */
static void st_cut(struct state *st, unsigned s, unsigned e)
{
    struct state out = { 0 };

    for (unsigned i = 0; i < st->n; i++) {
        struct marea m = st->a[i];
        if (m.e <= s || m.s >= e) {
            st_push(&out, m);
            continue;
        }
        if (m.s < s)
            st_push(&out, (struct marea){ m.s, (uint8_t)s, m.flags, m.be, m.tag });
        if (m.e > e)
            st_push(&out, (struct marea){ (uint8_t)e, m.e, m.flags, m.be, m.tag });
    }
    *st = out;
}

static void st_insert(struct state *st, struct marea m)
{
    unsigned i = st->n;

    st_push(st, m);
    while (i > 0 && st->a[i - 1].s > m.s) {
        st->a[i] = st->a[i - 1];
        i--;
    }
    st->a[i] = m;
}

/* The reference protect: areas touching [s, e) get `set` unless their flags
 * intersect `skip` (update() declines).  Returns how many areas update()
 * must be asked about, with their flags in seen[]. */
static unsigned st_protect(struct state *st, unsigned s, unsigned e, unsigned set, unsigned skip,
                           unsigned *seen)
{
    struct state out = { 0 };
    unsigned n = 0;

    for (unsigned i = 0; i < st->n; i++) {
        struct marea m = st->a[i];
        if (m.e <= s || m.s >= e) {
            st_push(&out, m);
            continue;
        }
        seen[n++] = m.flags;
        if ((m.flags & skip) || m.flags == set) {
            st_push(&out, m);
            continue;
        }
        unsigned ms = m.s > s ? m.s : s, me = m.e < e ? m.e : e;
        if (m.s < ms)
            st_push(&out, (struct marea){ m.s, (uint8_t)ms, m.flags, m.be, m.tag });
        st_push(&out, (struct marea){ (uint8_t)ms, (uint8_t)me, (uint8_t)set, m.be, m.tag });
        if (me < m.e)
            st_push(&out, (struct marea){ (uint8_t)me, m.e, m.flags, m.be, m.tag });
    }
    *st = out;
    return n;
}

/* The lowest align-aligned a >= lo with [a, a + size) inside [g0, g1) and
 * below hi.  Overflow-safe. */
static bool fit_in(uintptr_t g0, uintptr_t g1, uintptr_t lo, uintptr_t hi, size_t size,
                   size_t align, uintptr_t *out)
{
    uintptr_t from = g0 > lo ? g0 : lo, to = g1 < hi ? g1 : hi;
    uintptr_t a = (from + align - 1) & ~(uintptr_t)(align - 1);

    if (from >= to || a < from || a >= to || to - a < size)
        return false;
    *out = a;
    return true;
}

/* --------------------------------------------------------------- the world */

struct hist {
    atomic_uint_fast64_t ver; /* the version held, HIST_BUSY while rewritten */
    atomic_uint_fast64_t n;
    atomic_uint_fast64_t a[MAXA]; /* packed areas */
};

struct cell {
    uintptr_t base; /* stable area [base, slot) */
    uintptr_t slot; /* slot [slot, slot + W * UNIT) */
    bool frozen;
    atomic_uint_fast64_t begun; /* highest version whose operation started */
    atomic_uint_fast64_t done;  /* highest version whose operation returned */
    struct hist hist[H];
    atomic_flag owner;
    /* Owned by the writer holding `owner` (acquire/release hand it over). */
    struct state cur;
    uint64_t ver;
    uint32_t next_tag;
};

/* One entry per unit, written only by backend callbacks (under the set's
 * writer mutex) and read by the slot's owner: plain accesses, so TSan checks
 * that mset really serializes backend calls. */
struct pte {
    bool mapped;
    uint8_t be;
    unsigned flags;
};

struct pbe {
    struct mset_backend be;
    uint8_t id;
};

static struct {
    mset_t *s;
    int ncells;
    struct cell *cells;
    uintptr_t end; /* one past the last slot */
    struct pte *pt;
    size_t nunits;
    atomic_int *hot; /* per writer: the cell it works on, or -1 */
    int nwriters;
} g;

#define SLOT_END(c) ((c)->slot + W * UNIT)

static struct pte *pte_of(uintptr_t a)
{
    return &g.pt[(a - BASE) / UNIT];
}

static void *udata_of(int k, uint32_t tag)
{
    return (void *)(uintptr_t)((uint64_t)(k + 1) << 32 | tag);
}

/* ---------------------------------------------------------------- backend */

static void pt_check_range(const char *op, uintptr_t start, size_t size)
{
    CHECK(start >= BASE && start % UNIT == 0 && size % UNIT == 0 && size > 0 &&
              start + size <= g.end,
          "backend %s called for [%#" PRIxPTR ", %#" PRIxPTR "), not whole units of the layout",
          op, start, start + size);
}

static int pt_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                  unsigned flags)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_check_range("map", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(!p->mapped, "backend map [%#" PRIxPTR ", %#" PRIxPTR ") hits mapped %#" PRIxPTR,
              start, start + size, a);
        *p = (struct pte){ true, b->id, flags };
    }
    return 0;
}

static int pt_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_check_range("unmap", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(p->mapped && p->be == b->id,
              "backend %u unmap [%#" PRIxPTR ", %#" PRIxPTR ") hits %#" PRIxPTR
              " (mapped %d by backend %u)",
              b->id, start, start + size, a, p->mapped, p->be);
        *p = (struct pte){ false, 0, 0 };
    }
    return 0;
}

static int pt_protect(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                      unsigned flags)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_check_range("protect", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(p->mapped && p->be == b->id,
              "backend %u protect [%#" PRIxPTR ", %#" PRIxPTR ") hits %#" PRIxPTR
              " (mapped %d by backend %u)",
              b->id, start, start + size, a, p->mapped, p->be);
        p->flags = flags;
    }
    return 0;
}

/* Two backends for churned areas (pieces must keep theirs), one for stable. */
static const struct pbe churn_be[2] = {
    { { pt_map, pt_unmap, pt_protect }, 0 },
    { { pt_map, pt_unmap, pt_protect }, 1 },
};
static const struct pbe stable_be = { { pt_map, pt_unmap, pt_protect }, 2 };

/* ----------------------------------------------------------------- layout */

static int cell_of(uintptr_t a)
{
    if (a < BASE)
        return -1;
    if (a >= g.end)
        return g.ncells;
    int lo = 0, hi = g.ncells - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (g.cells[mid].base <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static void hist_write(struct cell *c, uint64_t v, const struct state *st)
{
    struct hist *h = &c->hist[v % H];

    /* Seqlock writer.  The data words are stored with release, so a reader
     * whose acquire load sees one of them also sees BUSY (or later) when it
     * loads ver again: no fence needed. */
    atomic_store_explicit(&h->ver, HIST_BUSY, memory_order_relaxed);
    atomic_store_explicit(&h->n, st->n, memory_order_release);
    for (unsigned i = 0; i < st->n; i++)
        atomic_store_explicit(&h->a[i], pack(st->a[i]), memory_order_release);
    /* Release pairs with the first acquire load of ver in hist_read(). */
    atomic_store_explicit(&h->ver, v, memory_order_release);
}

static bool hist_read(const struct cell *c, uint64_t v, struct state *st)
{
    const struct hist *h = &c->hist[v % H];

    if (atomic_load_explicit(&h->ver, memory_order_acquire) != v)
        return false;
    uint64_t n = atomic_load_explicit(&h->n, memory_order_acquire);
    if (n > MAXA)
        return false;
    st->n = (unsigned)n;
    for (unsigned i = 0; i < st->n; i++)
        st->a[i] = unpack(atomic_load_explicit(&h->a[i], memory_order_acquire));
    /* The acquires above keep this load after them: a rewrite that raced
     * with them shows as a changed ver. */
    return atomic_load_explicit(&h->ver, memory_order_relaxed) == v;
}

static void setup_world(const struct stress_opts *o)
{
    struct rng r = stress_rng(~0ull);

    g.ncells = o->scale;
    g.cells = calloc((size_t)g.ncells, sizeof *g.cells);
    g.nwriters = o->writers;
    g.hot = calloc((size_t)o->writers, sizeof *g.hot);
    CHECK(g.cells && g.hot, "out of memory");
    for (int i = 0; i < o->writers; i++)
        atomic_init(&g.hot[i], -1);

    uintptr_t a = BASE;
    int nfrozen = 0;
    for (int k = 0; k < g.ncells; k++) {
        struct cell *c = &g.cells[k];
        c->base = a;
        c->slot = a + rng_range(&r, 1, 3) * UNIT;
        c->frozen = rng_below(&r, 4) == 0;
        nfrozen += c->frozen;
        atomic_flag_clear(&c->owner);
        a = SLOT_END(c);
        /* A random initial state: areas of 1-4 units with gaps of 0-3. */
        for (unsigned u = (unsigned)rng_below(&r, 3); u < W;) {
            unsigned len = (unsigned)rng_range(&r, 1, 4);
            if (u + len > W)
                len = W - u;
            st_push(&c->cur, (struct marea){ (uint8_t)u, (uint8_t)(u + len),
                                             (uint8_t)rng_range(&r, 1, CHURN_FLAGS),
                                             (uint8_t)rng_below(&r, 2), ++c->next_tag });
            u += len + (unsigned)rng_below(&r, 4);
        }
        for (unsigned i = 0; i < H; i++)
            atomic_init(&c->hist[i].ver, HIST_BUSY);
        hist_write(c, 0, &c->cur);
    }
    if (nfrozen == 0 && g.ncells > 1)
        g.cells[g.ncells - 1].frozen = true; /* stable gaps need one */
    g.end = a;
    g.nunits = (g.end - BASE) / UNIT;
    g.pt = calloc(g.nunits, sizeof *g.pt);
    g.s = mset_new(NULL);
    CHECK(g.pt && g.s, "out of memory");

    for (int k = 0; k < g.ncells; k++) {
        struct cell *c = &g.cells[k];
        CHECK(mset_map(g.s, c->base, c->slot - c->base, STABLE_FLAGS(k), &stable_be.be,
                       udata_of(k, 0), false) == 0,
              "setup: map of stable area %d failed", k);
        for (unsigned i = 0; i < c->cur.n; i++) {
            struct marea m = c->cur.a[i];
            CHECK(mset_map(g.s, c->slot + m.s * UNIT, (size_t)(m.e - m.s) * UNIT, m.flags,
                           &churn_be[m.be].be, udata_of(k, m.tag), false) == 0,
                  "setup: map in slot %d failed", k);
        }
    }
}

/* ------------------------------------------------------------ formatting */

/* Up to 8 messages of 4 KiB per failing thread is plenty; failures abort. */
static _Thread_local char fmtbuf[8][4096];
static _Thread_local int fmtidx;

static char *fmt_area(const struct mset_area *a)
{
    char *b = fmtbuf[fmtidx++ % 8];

    snprintf(b, 4096, "[%#" PRIxPTR ", %#" PRIxPTR ") flags %#x backend %p udata %p", a->start,
             a->end, a->flags, (const void *)a->backend, a->udata);
    return b;
}

static char *fmt_states(const struct cell *c, uint64_t lo, const struct state *st, unsigned n)
{
    char *b = fmtbuf[fmtidx++ % 8];
    size_t len = 0;

    b[0] = '\0';
    for (unsigned v = 0; v < n && len < 3900; v++) {
        len += (size_t)snprintf(b + len, 4096 - len, "\n    S(%" PRIu64 "):", lo + v);
        for (unsigned i = 0; i < st[v].n && len < 3900; i++) {
            struct marea m = st[v].a[i];
            len += (size_t)snprintf(b + len, 4096 - len, " [%#" PRIxPTR ",%#" PRIxPTR ")f%u.b%u.t%u",
                                    c->slot + m.s * UNIT, c->slot + m.e * UNIT, m.flags, m.be,
                                    m.tag);
        }
    }
    return b;
}

/* ---------------------------------------------------------------- writers */

struct wstats {
    uint64_t map, map_eexist, map_overlap, unmap, unmap_split, protect, protect_split, anywhere,
        anywhere_enomem, changed;
};

struct writer {
    int id;
    struct rng r;
    struct wstats st;
};

struct update_arg {
    unsigned set, skip;
    unsigned n;
    unsigned seen[MAXA + 1];
};

static bool update_flags(unsigned old, unsigned *nf, void *arg)
{
    struct update_arg *u = arg;

    if (u->n <= MAXA)
        u->seen[u->n] = old;
    u->n++;
    if (old & u->skip)
        return false;
    *nf = u->set;
    return true;
}

/* A range [*s, *e) of 1..maxlen units anywhere in the slot. */
static void pick_range(struct rng *r, unsigned maxlen, unsigned *s, unsigned *e)
{
    *s = (unsigned)rng_below(r, W);
    unsigned room = W - *s;
    *e = *s + (unsigned)rng_range(r, 1, maxlen < room ? maxlen : room);
}

/* A range strictly inside an area of >= 3 units (a split), if there is one. */
static bool pick_inside(struct rng *r, const struct state *st, unsigned *s, unsigned *e)
{
    unsigned cand[MAXA], n = 0;

    for (unsigned i = 0; i < st->n; i++)
        if (st->a[i].e - st->a[i].s >= 3)
            cand[n++] = i;
    if (!n)
        return false;
    struct marea m = st->a[cand[rng_below(r, n)]];
    *s = (unsigned)rng_range(r, m.s + 1u, m.e - 2u);
    *e = (unsigned)rng_range(r, *s + 1u, m.e - 1u);
    return true;
}

/* A range inside a free run, if there is one. */
static bool pick_free(struct rng *r, const struct state *st, unsigned *s, unsigned *e)
{
    unsigned u = (unsigned)rng_below(r, W);

    for (unsigned i = 0; i < W; i++, u = (u + 1) % W) {
        if (st_at(st, u) >= 0)
            continue;
        unsigned end = u + 1;
        while (end < W && end - u < 6 && st_at(st, end) < 0)
            end++;
        *s = u;
        *e = (unsigned)rng_range(r, u + 1, end);
        return true;
    }
    return false;
}

/* The slot's page table and its model agree unit by unit. */
static void check_page_table(int k, const struct state *st, const char *after)
{
    const struct cell *c = &g.cells[k];

    for (unsigned u = 0; u < W; u++) {
        const struct pte *p = pte_of(c->slot + u * UNIT);
        int i = st_at(st, u);
        bool ok = i < 0 ? !p->mapped
                        : p->mapped && p->flags == st->a[i].flags && p->be == st->a[i].be;
        CHECK(ok,
              "after %s in slot %d: page table at %#" PRIxPTR " says mapped %d flags %u backend %u,"
              " model says %s%s",
              after, k, c->slot + u * UNIT, p->mapped, p->flags, p->be,
              i < 0 ? "unmapped" : "mapped", fmt_states(c, c->ver, st, 1));
    }
}

static void writer_op(struct writer *w, int k)
{
    struct cell *c = &g.cells[k];
    struct rng *r = &w->r;
    struct state next = c->cur;
    struct update_arg ua = { 0 };
    unsigned s, e, nseen = 0, seen[MAXA];
    int expect = 0, rc = 0;
    uintptr_t want_out = 0, out = 0;
    char what[160];
    unsigned pick = (unsigned)rng_below(r, 100);
    enum { MAP, MAP_OVERLAP, UNMAP, PROTECT, ANYWHERE } op;

    if (pick < 15) {
        op = MAP;
        if (rng_below(r, 4) == 0 || !pick_free(r, &c->cur, &s, &e))
            pick_range(r, 6, &s, &e);
    } else if (pick < 33) {
        op = MAP_OVERLAP;
        pick_range(r, 6, &s, &e);
    } else if (pick < 55) {
        op = UNMAP;
        if (rng_below(r, 2) || !pick_inside(r, &c->cur, &s, &e))
            pick_range(r, rng_below(r, 8) ? 10 : W, &s, &e);
        else
            w->st.unmap_split++;
    } else if (pick < 82) {
        op = PROTECT;
        if (rng_below(r, 2) || !pick_inside(r, &c->cur, &s, &e))
            pick_range(r, 12, &s, &e);
        else
            w->st.protect_split++;
    } else {
        op = ANYWHERE;
        s = e = 0;
    }

    unsigned flags = (unsigned)rng_range(r, 1, CHURN_FLAGS);
    uint8_t be = (uint8_t)rng_below(r, 2);
    uint32_t tag = c->next_tag + 1;
    uintptr_t start = c->slot + s * UNIT;
    size_t size = (size_t)(e - s) * UNIT;
    uintptr_t hint = 0, lim0 = 0, lim1 = 0;
    size_t align = 0;

    /* Predict. */
    switch (op) {
    case MAP:
        if (st_any_in(&c->cur, s, e)) {
            expect = -EEXIST;
        } else {
            st_insert(&next, (struct marea){ (uint8_t)s, (uint8_t)e, (uint8_t)flags, be, tag });
            c->next_tag = tag;
        }
        break;
    case MAP_OVERLAP:
        st_cut(&next, s, e);
        st_insert(&next, (struct marea){ (uint8_t)s, (uint8_t)e, (uint8_t)flags, be, tag });
        c->next_tag = tag;
        break;
    case UNMAP:
        st_cut(&next, s, e);
        break;
    case PROTECT:
        ua.set = flags;
        ua.skip = rng_below(r, 3) ? 0 : 1u << rng_below(r, 3);
        nseen = st_protect(&next, s, e, ua.set, ua.skip, seen);
        break;
    case ANYWHERE: {
        align = UNIT << (rng_below(r, 4) ? 0 : rng_range(r, 1, 2));
        size = align * rng_range(r, 1, 2);
        /* Windows of any size, but often the whole slot so that most succeed. */
        unsigned l0 = rng_below(r, 2) ? 0 : (unsigned)rng_below(r, W);
        unsigned l1 = rng_below(r, 2) ? W : (unsigned)rng_range(r, l0 + 1, W);
        lim0 = c->slot + l0 * UNIT;
        lim1 = c->slot + l1 * UNIT;
        hint = rng_below(r, 2) ? lim0 : lim0 - UNIT + rng_below(r, lim1 - lim0 + UNIT + 1);
        uintptr_t lo = hint > lim0 ? hint : lim0;
        bool found = false;
        for (unsigned u = 0; u < W && !found;) {
            if (st_at(&c->cur, u) >= 0) {
                u++;
                continue;
            }
            unsigned v = u;
            while (v < W && st_at(&c->cur, v) < 0)
                v++;
            found = fit_in(c->slot + u * UNIT, c->slot + v * UNIT, lo, lim1, size, align,
                           &want_out);
            u = v;
        }
        if (!found) {
            expect = -ENOMEM;
        } else {
            unsigned ws = (unsigned)((want_out - c->slot) / UNIT);
            st_insert(&next, (struct marea){ (uint8_t)ws, (uint8_t)(ws + size / UNIT),
                                             (uint8_t)flags, be, tag });
            c->next_tag = tag;
        }
        break;
    }
    }

    /* Announce, act, publish. */
    bool changed = !st_eq(&next, &c->cur);
    if (changed) {
        hist_write(c, c->ver + 1, &next);
        /* Release: a reader that sees begun = v + 1 can read S(v + 1).  The
         * fence keeps the operation's stores to the set after this one. */
        atomic_store_explicit(&c->begun, c->ver + 1, memory_order_release);
        stress_fence();
    }
    switch (op) {
    case MAP:
    case MAP_OVERLAP:
        snprintf(what, sizeof what, "map%s([%#" PRIxPTR ", %#" PRIxPTR "), flags %u)",
                 op == MAP ? "" : "(unmap_overlap)", start, start + size, flags);
        rc = mset_map(g.s, start, size, flags, &churn_be[be].be, udata_of(k, tag),
                      op == MAP_OVERLAP);
        break;
    case UNMAP:
        snprintf(what, sizeof what, "unmap([%#" PRIxPTR ", %#" PRIxPTR "))", start, start + size);
        rc = mset_unmap(g.s, start, size);
        break;
    case PROTECT:
        snprintf(what, sizeof what, "protect([%#" PRIxPTR ", %#" PRIxPTR "), set %u skip %u)",
                 start, start + size, ua.set, ua.skip);
        rc = mset_protect(g.s, start, size, update_flags, &ua);
        break;
    case ANYWHERE:
        snprintf(what, sizeof what,
                 "map_anywhere(hint %#" PRIxPTR ", size %#zx, limit [%#" PRIxPTR ", %#" PRIxPTR
                 "), align %#zx)",
                 hint, size, lim0, lim1, align);
        rc = mset_map_anywhere(g.s, hint, size, lim0, lim1, align, flags, &churn_be[be].be,
                               udata_of(k, tag), &out);
        break;
    }
    if (changed) {
        /* Release: readers that see done = v + 1 find at least S(v + 1). */
        atomic_store_explicit(&c->done, c->ver + 1, memory_order_release);
        c->ver++;
        w->st.changed++;
    }
    const struct state before = c->cur;
    c->cur = next;
#define BEFORE fmt_states(c, c->ver - changed, &before, 1)

    CHECK(rc == expect, "slot %d: %s returned %d, expected %d; slot before:%s", k, what, rc,
          expect, BEFORE);
    if (op == ANYWHERE && rc == 0)
        CHECK(out == want_out, "slot %d: %s gave %#" PRIxPTR ", expected %#" PRIxPTR "; slot before:%s",
              k, what, out, want_out, BEFORE);
    if (op == PROTECT) {
        CHECK(ua.n == nseen, "slot %d: %s asked update() %u times, expected %u; slot before:%s",
              k, what, ua.n, nseen, BEFORE);
        for (unsigned i = 0; i < nseen; i++)
            CHECK(ua.seen[i] == seen[i],
                  "slot %d: %s: update() call %u saw flags %u, expected %u (address order)", k,
                  what, i, ua.seen[i], seen[i]);
    }
    check_page_table(k, &c->cur, what);

    /* Nobody else touches this slot: a lookup in it is exact. */
    unsigned u = (unsigned)rng_below(r, W);
    int i = st_at(&c->cur, u);
    struct mset_area a;
    bool hit = mset_find(g.s, c->slot + u * UNIT, &a);
    CHECK(hit == (i >= 0), "slot %d: after %s, find(%#" PRIxPTR ") = %d in the writer's own slot", k,
          what, c->slot + u * UNIT, hit);
    if (hit) {
        struct marea m = c->cur.a[i];
        CHECK(a.start == c->slot + m.s * UNIT && a.end == c->slot + m.e * UNIT &&
                  a.flags == m.flags && a.backend == &churn_be[m.be].be &&
                  a.udata == udata_of(k, m.tag),
              "slot %d: after %s, find(%#" PRIxPTR ") = %s in the writer's own slot", k, what,
              c->slot + u * UNIT, fmt_area(&a));
    }

#undef BEFORE
    switch (op) {
    case MAP: w->st.map++; w->st.map_eexist += rc == -EEXIST; break;
    case MAP_OVERLAP: w->st.map_overlap++; break;
    case UNMAP: w->st.unmap++; break;
    case PROTECT: w->st.protect++; break;
    case ANYWHERE: w->st.anywhere++; w->st.anywhere_enomem += rc == -ENOMEM; break;
    }
}

static struct wstats wtotal;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *writer_main(void *arg, int id)
{
    struct writer w = { .id = id, .r = stress_rng(1000 + (uint64_t)id) };

    (void)arg;
    while (!stress_stopping()) {
        int k = (int)rng_below(&w.r, (uint64_t)g.ncells);
        struct cell *c = &g.cells[k];
        if (c->frozen || atomic_flag_test_and_set_explicit(&c->owner, memory_order_acquire))
            continue;
        atomic_store_explicit(&g.hot[id], k, memory_order_relaxed);
        for (int n = (int)rng_range(&w.r, 1, 8); n > 0 && !stress_stopping(); n--) {
            writer_op(&w, k);
            stress_op_done();
        }
        atomic_store_explicit(&g.hot[id], -1, memory_order_relaxed);
        atomic_flag_clear_explicit(&c->owner, memory_order_release);
    }
    pthread_mutex_lock(&total_lock);
    uint64_t *t = (uint64_t *)&wtotal, *m = (uint64_t *)&w.st;
    for (size_t i = 0; i < sizeof wtotal / sizeof *t; i++)
        t[i] += m[i];
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

/* ---------------------------------------------------------------- readers */

struct rstats {
    uint64_t find, cached, memo, overlaps, next, free, walk[3], len, raced, lost;
};

struct reader {
    struct rng r;
    struct rstats st;
    uint64_t *lo, *hi;     /* per cell, for the current call */
    struct state (*v)[H];  /* per cell: S(lo..hi) */
    bool *ok;              /* per cell: the history was read intact */
    struct mset_area *walk; /* what foreach visited */
    size_t nwalk, walk_cap;
    struct mset_cursor cursor; /* for find_cached() */
    uintptr_t last;            /* the last address looked up */
};

static void snap_lo(struct reader *rd, int k1, int k2)
{
    for (int k = k1; k <= k2; k++)
        rd->lo[k] = atomic_load_explicit(&g.cells[k].done, memory_order_acquire);
}

/* Load begun after the call, and the states in between.  Returns whether
 * every history was intact; counts races and losses. */
static bool snap_hi(struct reader *rd, int k1, int k2)
{
    bool all = true, raced = false;

    /* Keep the call's loads of the set (some relaxed) before the loads of
     * begun; pairs with the fence after the begun store in writer_op(). */
    stress_fence();
    for (int k = k1; k <= k2; k++)
        rd->hi[k] = atomic_load_explicit(&g.cells[k].begun, memory_order_acquire);
    for (int k = k1; k <= k2; k++) {
        const struct cell *c = &g.cells[k];
        uint64_t lo = rd->lo[k], hi = rd->hi[k];
        CHECK(hi >= lo, "slot %d: begun %" PRIu64 " < done %" PRIu64 " (harness bug)", k, hi, lo);
        bool ok = hi - lo < H;
        for (uint64_t v = lo; ok && v <= hi; v++)
            ok = hist_read(c, v, &rd->v[k][v - lo]);
        rd->ok[k] = ok;
        all &= ok;
        raced |= hi > lo;
    }
    rd->st.raced += raced;
    rd->st.lost += !all;
    return all;
}

static unsigned nstates(const struct reader *rd, int k)
{
    return (unsigned)(rd->hi[k] - rd->lo[k] + 1);
}

static bool is_stable(const struct mset_area *a, int k)
{
    const struct cell *c = &g.cells[k];

    return a->start == c->base && a->end == c->slot && a->flags == STABLE_FLAGS(k) &&
           a->backend == &stable_be.be && a->udata == udata_of(k, 0);
}

/* Decode a returned area of slot k into the model's terms; false if it
 * cannot be an area of that slot at all (torn or impossible fields). */
static bool decode(const struct mset_area *a, int k, struct marea *m)
{
    const struct cell *c = &g.cells[k];
    uint64_t ud = (uint64_t)(uintptr_t)a->udata;

    if (a->start < c->slot || a->end > SLOT_END(c) || a->start >= a->end ||
        (a->start - c->slot) % UNIT || (a->end - c->slot) % UNIT)
        return false;
    if (a->flags < 1 || a->flags > CHURN_FLAGS || ud >> 32 != (uint64_t)k + 1)
        return false;
    if (a->backend != &churn_be[0].be && a->backend != &churn_be[1].be)
        return false;
    *m = (struct marea){ (uint8_t)((a->start - c->slot) / UNIT), (uint8_t)((a->end - c->slot) / UNIT),
                         (uint8_t)a->flags, a->backend == &churn_be[1].be, (uint32_t)ud };
    return true;
}

/* R2: a is exactly an area of one of the states S(lo..hi) of slot k. */
static bool in_some_state(const struct reader *rd, int k, const struct mset_area *a)
{
    struct marea m;

    if (!decode(a, k, &m))
        return false;
    if (!rd->ok[k])
        return true; /* decodable is all we can say */
    for (unsigned v = 0; v < nstates(rd, k); v++)
        if (st_has(&rd->v[k][v], m))
            return true;
    return false;
}

static uintptr_t pick_addr(struct reader *rd)
{
    struct rng *r = &rd->r;
    unsigned x = (unsigned)rng_below(r, 100);
    int k;

    if (x == 0)
        return BASE - 1 - rng_below(r, 0x10000);
    if (x == 1)
        return g.end + rng_below(r, 0x10000);
    /* Half of the lookups go where a writer is working right now. */
    k = x < 50 ? atomic_load_explicit(&g.hot[rng_below(r, (uint64_t)g.nwriters)],
                                      memory_order_relaxed)
               : -1;
    if (k < 0)
        k = (int)rng_below(r, (uint64_t)g.ncells);
    const struct cell *c = &g.cells[k];
    if (x < 10)
        return c->base + rng_below(r, c->slot - c->base);
    return c->slot + rng_below(r, W * UNIT);
}

/* find(), or find_cached() with this reader's cursor.  Counts memo hits: a
 * hit is exactly "the memo's version did not move and addr is inside the
 * memo's area" (a refill would have had the same condition). */
static bool do_find(struct reader *rd, bool cached, uintptr_t addr, struct mset_area *a)
{
    if (!cached)
        return mset_find(g.s, addr, a);
    struct mset_cursor old = rd->cursor;
    bool hit = mset_find_cached(g.s, addr, &rd->cursor, a);
    rd->st.cached++;
    rd->st.memo += old.set == g.s && rd->cursor.set == g.s && old.version == rd->cursor.version &&
                   addr >= old.area.start && addr < old.area.end;
    return hit;
}

static void check_find(struct reader *rd)
{
    struct rng *r = &rd->r;
    /* Half of the lookups use the cursor; most of those stay near the last
     * address (a profiler's locality), so that the memo answers some. */
    bool cached = rng_below(r, 2);
    uintptr_t addr = cached && rd->last && rng_below(r, 4) ? rd->last + rng_below(r, 0x200) - 0x100
                                                           : pick_addr(rd);
    int k = cell_of(addr);
    struct mset_area a;
    const char *fn = cached ? "find_cached" : "find";

    rd->last = addr;
    rd->st.find++;
    if (k < 0 || k >= g.ncells) {
        CHECK(!do_find(rd, cached, addr, &a), "%s(%#" PRIxPTR ") outside the layout returned %s", fn,
              addr, fmt_area(&a));
        return;
    }
    const struct cell *c = &g.cells[k];
    if (addr < c->slot) {
        bool hit = do_find(rd, cached, addr, &a);
        CHECK(hit && is_stable(&a, k),
              "R1/R2: %s(%#" PRIxPTR ") in stable area %d [%#" PRIxPTR ", %#" PRIxPTR
              ") flags %#x returned %s",
              fn, addr, k, c->base, c->slot, STABLE_FLAGS(k), hit ? fmt_area(&a) : "nothing");
        return;
    }
    snap_lo(rd, k, k);
    bool hit = do_find(rd, cached, addr, &a);
    snap_hi(rd, k, k);
    unsigned u = (unsigned)((addr - c->slot) / UNIT), n = nstates(rd, k);
    if (hit) {
        CHECK(a.start <= addr && addr < a.end, "R2: %s(%#" PRIxPTR ") returned %s, not containing it",
              fn, addr, fmt_area(&a));
        CHECK(in_some_state(rd, k, &a),
              "R2: %s(%#" PRIxPTR ") returned %s, which slot %d never held in versions %" PRIu64
              "..%" PRIu64 ":%s",
              fn, addr, fmt_area(&a), k, rd->lo[k], rd->hi[k],
              fmt_states(c, rd->lo[k], rd->v[k], n));
    } else if (rd->ok[k]) {
        bool gap = false;
        for (unsigned v = 0; v < n && !gap; v++)
            gap = st_at(&rd->v[k][v], u) < 0;
        CHECK(gap,
              "R1: phantom gap: %s(%#" PRIxPTR ") found nothing, but slot %d had it mapped in every"
              " version %" PRIu64 "..%" PRIu64 ":%s",
              fn, addr, k, rd->lo[k], rd->hi[k], fmt_states(c, rd->lo[k], rd->v[k], n));
    }
}

static void check_overlaps(struct reader *rd)
{
    struct rng *r = &rd->r;
    uintptr_t start = pick_addr(rd);
    size_t size = (size_t)rng_range(r, 1, 4 * UNIT);
    int k = cell_of(start);

    rd->st.overlaps++;
    if (k < 0) {
        if (start + size <= BASE)
            CHECK(!mset_overlaps(g.s, start, size),
                  "overlaps([%#" PRIxPTR ", %#" PRIxPTR ")) below every area said true", start,
                  start + size);
        return;
    }
    if (k >= g.ncells) {
        CHECK(!mset_overlaps(g.s, start, size),
              "overlaps([%#" PRIxPTR ", %#" PRIxPTR ")) above every area said true", start,
              start + size);
        return;
    }
    const struct cell *c = &g.cells[k];
    uintptr_t end = start + size;
    bool stable = start < c->slot || (k + 1 < g.ncells && end > g.cells[k + 1].base);
    if (stable) {
        CHECK(mset_overlaps(g.s, start, size),
              "overlaps([%#" PRIxPTR ", %#" PRIxPTR ")) said false, but it holds part of a stable area",
              start, end);
        return;
    }
    snap_lo(rd, k, k);
    bool hit = mset_overlaps(g.s, start, size);
    if (!snap_hi(rd, k, k))
        return;
    unsigned n = nstates(rd, k);
    for (unsigned v = 0; v < n; v++) {
        const struct state *st = &rd->v[k][v];
        bool any = false;
        for (unsigned i = 0; i < st->n && !any; i++)
            any = c->slot + st->a[i].s * UNIT < end && c->slot + st->a[i].e * UNIT > start;
        if (any == hit)
            return;
    }
    stress_fail("overlaps([%#" PRIxPTR ", %#" PRIxPTR ")) said %d, the answer of no version %" PRIu64
                "..%" PRIu64 " of slot %d:%s",
                start, end, hit, rd->lo[k], rd->hi[k], k, fmt_states(c, rd->lo[k], rd->v[k], n));
}

static void check_find_next(struct reader *rd)
{
    uintptr_t addr = pick_addr(rd);
    int k = cell_of(addr);
    struct mset_area a;

    rd->st.next++;
    if (k < 0 || k >= g.ncells) {
        bool hit = mset_find_next(g.s, addr, &a);
        if (k < 0)
            CHECK(hit && is_stable(&a, 0), "find_next(%#" PRIxPTR ") below the layout returned %s",
                  addr, hit ? fmt_area(&a) : "nothing");
        else
            CHECK(!hit, "find_next(%#" PRIxPTR ") above the layout returned %s", addr, fmt_area(&a));
        return;
    }
    const struct cell *c = &g.cells[k];
    if (addr < c->slot) {
        bool hit = mset_find_next(g.s, addr, &a);
        CHECK(hit && is_stable(&a, k), "find_next(%#" PRIxPTR ") in stable area %d returned %s", addr,
              k, hit ? fmt_area(&a) : "nothing");
        return;
    }
    snap_lo(rd, k, k);
    bool hit = mset_find_next(g.s, addr, &a);
    bool ok = snap_hi(rd, k, k);
    bool last = k + 1 == g.ncells;
    struct marea m;
    bool mine = hit && decode(&a, k, &m);

    if (hit && !mine)
        CHECK(!last && is_stable(&a, k + 1),
              "find_next(%#" PRIxPTR ") returned %s, neither an area of slot %d nor the next stable"
              " area",
              addr, fmt_area(&a), k);
    CHECK(hit || last, "find_next(%#" PRIxPTR ") found nothing, but stable area %d lies above", addr,
          k + 1);
    CHECK(!mine || a.end > addr, "find_next(%#" PRIxPTR ") returned %s, which ends below it", addr,
          fmt_area(&a));
    if (!ok)
        return;
    /*
     * Not "the answer of one state": an unmap that removes several areas
     * unlinks them one by one, and a reader can walk from the new left
     * remainder straight to an old area further up whose lower neighbours
     * are already gone.  What holds: R2, R1 (an address mapped throughout
     * is answered with its area), and no area present throughout the call
     * is skipped (level-0 links never jump over a linked node).
     */
    unsigned n = nstates(rd, k);
    CHECK(!mine || in_some_state(rd, k, &a),
          "R2: find_next(%#" PRIxPTR ") returned %s, which slot %d never held in versions %" PRIu64
          "..%" PRIu64 ":%s",
          addr, fmt_area(&a), k, rd->lo[k], rd->hi[k], fmt_states(c, rd->lo[k], rd->v[k], n));
    uintptr_t got = !hit ? UINTPTR_MAX : a.start > addr ? a.start : addr;
    const struct state *s0 = &rd->v[k][0];
    for (unsigned j = 0; j < s0->n; j++) {
        struct marea p = s0->a[j];
        uintptr_t ps = c->slot + p.s * UNIT, pe = c->slot + p.e * UNIT;
        bool always = pe > addr;
        for (unsigned v = 1; v < n && always; v++)
            always = st_has(&rd->v[k][v], p);
        if (!always)
            continue;
        CHECK(got <= (ps > addr ? ps : addr) && (ps > addr || (mine && marea_eq(m, p))),
              "find_next(%#" PRIxPTR ") returned %s, skipping [%#" PRIxPTR ", %#" PRIxPTR
              "), present throughout versions %" PRIu64 "..%" PRIu64 " of slot %d:%s",
              addr, hit ? fmt_area(&a) : "nothing", ps, pe, rd->lo[k], rd->hi[k], k,
              fmt_states(c, rd->lo[k], rd->v[k], n));
        break; /* the lowest one bounds the answer */
    }
    bool mapped = true;
    unsigned u = (unsigned)((addr - c->slot) / UNIT);
    for (unsigned v = 0; v < n && mapped; v++)
        mapped = st_at(&rd->v[k][v], u) >= 0;
    CHECK(!mapped || (mine && a.start <= addr),
          "R1: find_next(%#" PRIxPTR ") returned %s, but the address was mapped in every version %" PRIu64
          "..%" PRIu64 " of slot %d:%s",
          addr, hit ? fmt_area(&a) : "nothing", rd->lo[k], rd->hi[k], k,
          fmt_states(c, rd->lo[k], rd->v[k], n));
}

/* Is [a, b) (inside slot k) free in state st? */
static bool free_in(const struct cell *c, const struct state *st, uintptr_t a, uintptr_t b)
{
    for (unsigned i = 0; i < st->n; i++)
        if (c->slot + st->a[i].s * UNIT < b && c->slot + st->a[i].e * UNIT > a)
            return false;
    return true;
}

static void check_free_area(struct reader *rd)
{
    struct rng *r = &rd->r;
    int k1 = (int)rng_below(r, (uint64_t)g.ncells);
    int k2 = k1 + (int)rng_below(r, 3);

    if (k2 >= g.ncells)
        k2 = g.ncells - 1;
    const struct cell *c1 = &g.cells[k1], *c2 = &g.cells[k2];
    bool to_end = k2 == g.ncells - 1;
    uintptr_t ls = c1->base + rng_below(r, SLOT_END(c1) - c1->base);
    uintptr_t le_max = to_end ? g.end + 8 * UNIT : SLOT_END(c2);
    uintptr_t le = ls + rng_range(r, 1, le_max - ls);
    uintptr_t hint = rng_below(r, 3) == 0 ? ls - rng_below(r, UNIT) : ls + rng_below(r, le - ls + 1);
    size_t align = (size_t)1 << rng_range(r, 4, 10);
    size_t size = align * rng_range(r, 1, 4);
    uintptr_t out = 0, lo = hint > ls ? hint : ls;

    rd->st.free++;
    snap_lo(rd, k1, k2);
    int rc = mset_find_free_area(g.s, hint, size, ls, le, align, &out);
    bool ok = snap_hi(rd, k1, k2);

    char what[200];
    snprintf(what, sizeof what,
             "find_free_area(hint %#" PRIxPTR ", size %#zx, limit [%#" PRIxPTR ", %#" PRIxPTR
             "), align %#zx)",
             hint, size, ls, le, align);
    CHECK(rc == 0 || rc == -ENOMEM, "%s returned %d", what, rc);
    int ko = -1;
    if (rc == 0) {
        CHECK(out % align == 0 && out >= lo && out < le && le - out >= size,
              "%s = %#" PRIxPTR ": not aligned or outside the limits", what, out);
        ko = cell_of(out);
        CHECK(ko >= k1 && ko <= g.ncells, "%s = %#" PRIxPTR ": outside the cells searched", what, out);
        if (ko < g.ncells) {
            const struct cell *c = &g.cells[ko];
            CHECK(out >= c->slot && (out + size <= SLOT_END(c) || ko == g.ncells - 1),
                  "%s = %#" PRIxPTR ": overlaps stable area %d or %d", what, out, ko, ko + 1);
            if (rd->ok[ko]) {
                uintptr_t b = out + size < SLOT_END(c) ? out + size : SLOT_END(c);
                bool was_free = false;
                for (unsigned v = 0; v < nstates(rd, ko) && !was_free; v++)
                    was_free = free_in(c, &rd->v[ko][v], out, b);
                CHECK(was_free,
                      "%s = %#" PRIxPTR ": never free in versions %" PRIu64 "..%" PRIu64
                      " of slot %d:%s",
                      what, out, rd->lo[ko], rd->hi[ko], ko,
                      fmt_states(c, rd->lo[ko], rd->v[ko], nstates(rd, ko)));
            }
        }
    }
    if (!ok)
        return;
    /* The lowest range free throughout the call (free in every state):
     * the answer may not lie above it. */
    for (int k = k1; k <= k2; k++) {
        const struct cell *c = &g.cells[k];
        for (unsigned u = 0; u < W;) {
            bool busy = false;
            for (unsigned v = 0; v < nstates(rd, k) && !busy; v++)
                busy = st_at(&rd->v[k][v], u) >= 0;
            if (busy) {
                u++;
                continue;
            }
            unsigned e = u;
            for (; e < W; e++) {
                for (unsigned v = 0; v < nstates(rd, k) && !busy; v++)
                    busy = st_at(&rd->v[k][v], e) >= 0;
                if (busy)
                    break;
            }
            uintptr_t g0 = c->slot + u * UNIT;
            uintptr_t g1 = e == W && k == g.ncells - 1 ? UINTPTR_MAX : c->slot + e * UNIT;
            uintptr_t b;
            if (fit_in(g0, g1, lo, le, size, align, &b)) {
                CHECK(rc == 0 && out <= b,
                      "%s = %d/%#" PRIxPTR ", but [%#" PRIxPTR ", %#" PRIxPTR
                      ") was free throughout (slot %d versions %" PRIu64 "..%" PRIu64 "):%s",
                      what, rc, out, b, b + size, k, rd->lo[k], rd->hi[k],
                      fmt_states(c, rd->lo[k], rd->v[k], nstates(rd, k)));
                return;
            }
            u = e;
        }
    }
    uintptr_t b;
    if (to_end && fit_in(g.end, UINTPTR_MAX, lo, le, size, align, &b))
        CHECK(rc == 0 && out <= b, "%s = %d/%#" PRIxPTR ", but [%#" PRIxPTR ", %#" PRIxPTR
              ") above every area was free", what, rc, out, b, b + size);
}

static int walk_cb(const struct mset_area *a, void *arg)
{
    struct reader *rd = arg;

    CHECK(rd->nwalk < rd->walk_cap, "foreach visited more than %zu areas, more than the layout holds",
          rd->walk_cap);
    rd->walk[rd->nwalk++] = *a;
    return 0;
}

enum walk_kind { WALK_ALL, WALK_RANGE, WALK_SNAPSHOT };

/*
 * foreach() over the whole set, foreach_range() over a window of 1-4 cells,
 * or snapshot().  All: sorted, non-overlapping, each stable area in the
 * window once, nothing but areas of the states S(lo..hi), every slot area
 * present in all of them (and in the window) once.  Snapshot, "the set at
 * one instant": each slot is exactly one whole state S(v).
 */
static void check_walk(struct reader *rd, enum walk_kind kind)
{
    static const char *const name[] = { "foreach", "foreach_range", "snapshot" };
    int k1 = 0, k2 = g.ncells - 1;
    uintptr_t ls = 0, le = UINTPTR_MAX;
    int rc;

    if (kind == WALK_RANGE) {
        struct rng *r = &rd->r;
        k1 = (int)rng_below(r, (uint64_t)g.ncells);
        k2 = k1 + (int)rng_below(r, 4);
        if (k2 >= g.ncells)
            k2 = g.ncells - 1;
        ls = g.cells[k1].base + rng_below(r, SLOT_END(&g.cells[k1]) - g.cells[k1].base);
        le = ls + rng_range(r, 1, SLOT_END(&g.cells[k2]) - ls);
    }
    rd->st.walk[kind]++;
    rd->nwalk = 0;
    snap_lo(rd, k1, k2);
    if (kind == WALK_SNAPSHOT) {
        size_t n = 0;
        rc = mset_snapshot(g.s, rd->walk, rd->walk_cap, &n);
        rd->nwalk = n;
    } else if (kind == WALK_RANGE) {
        rc = mset_foreach_range(g.s, ls, le - ls, walk_cb, rd);
    } else {
        rc = mset_foreach(g.s, walk_cb, rd);
    }
    snap_hi(rd, k1, k2);
    CHECK(rc == 0 && rd->nwalk <= rd->walk_cap, "%s returned %d with %zu areas", name[kind], rc,
          rd->nwalk);

    size_t n = rd->nwalk, i = 0;
    uintptr_t prev_end = 0;
    for (int k = k1; k <= k2; k++) {
        const struct cell *c = &g.cells[k];
        /* The areas visited in cell k: its stable area (if in the window),
         * once, then areas of slot k, each in some state, in order,
         * non-overlapping, inside the window. */
        if (c->base < le && c->slot > ls) {
            CHECK(i < n && is_stable(&rd->walk[i], k) && rd->walk[i].start >= prev_end,
                  "R3: %s missed stable area %d [%#" PRIxPTR ", %#" PRIxPTR ") (visited %s there)",
                  name[kind], k, c->base, c->slot, i < n ? fmt_area(&rd->walk[i]) : "nothing");
            prev_end = rd->walk[i++].end;
        }
        size_t first = i;
        struct state seen = { 0 };
        for (; i < n && rd->walk[i].start < SLOT_END(c); i++) {
            const struct mset_area *a = &rd->walk[i];
            struct marea m;
            CHECK(a->start >= prev_end,
                  "R3: %s visited %s after an area ending at %#" PRIxPTR " (unsorted or overlapping)",
                  name[kind], fmt_area(a), prev_end);
            CHECK(a->start < le && a->end > ls,
                  "%s([%#" PRIxPTR ", %#" PRIxPTR ")) visited %s, outside the range", name[kind], ls,
                  le, fmt_area(a));
            CHECK(in_some_state(rd, k, a),
                  "R3: %s visited %s, which slot %d never held in versions %" PRIu64 "..%" PRIu64
                  ":%s",
                  name[kind], fmt_area(a), k, rd->lo[k], rd->hi[k],
                  fmt_states(c, rd->lo[k], rd->v[k], rd->ok[k] ? nstates(rd, k) : 0));
            if (decode(a, k, &m))
                st_push(&seen, m);
            prev_end = a->end;
        }
        if (!rd->ok[k])
            continue;
        if (kind == WALK_SNAPSHOT) {
            bool one = false;
            for (unsigned v = 0; v < nstates(rd, k) && !one; v++)
                one = st_eq(&seen, &rd->v[k][v]);
            CHECK(one,
                  "snapshot: slot %d is not one state of versions %" PRIu64 "..%" PRIu64
                  " (not the set at one instant):%s\n  snapshot:%s",
                  k, rd->lo[k], rd->hi[k], fmt_states(c, rd->lo[k], rd->v[k], nstates(rd, k)),
                  fmt_states(c, 0, &seen, 1));
            continue;
        }
        /* Every area present in all of S(lo..hi) and in the window was
         * visited (once: the visited areas do not overlap). */
        const struct state *s0 = &rd->v[k][0];
        for (unsigned j = 0; j < s0->n; j++) {
            if (c->slot + s0->a[j].s * UNIT >= le || c->slot + s0->a[j].e * UNIT <= ls)
                continue;
            bool always = true;
            for (unsigned v = 1; v < nstates(rd, k) && always; v++)
                always = st_has(&rd->v[k][v], s0->a[j]);
            if (!always)
                continue;
            bool found = false;
            for (size_t x = first; x < i && !found; x++) {
                struct marea m;
                found = decode(&rd->walk[x], k, &m) && marea_eq(m, s0->a[j]);
            }
            CHECK(found,
                  "R3: %s missed [%#" PRIxPTR ", %#" PRIxPTR "), present in slot %d throughout"
                  " versions %" PRIu64 "..%" PRIu64 ":%s",
                  name[kind], c->slot + s0->a[j].s * UNIT, c->slot + s0->a[j].e * UNIT, k, rd->lo[k],
                  rd->hi[k], fmt_states(c, rd->lo[k], rd->v[k], nstates(rd, k)));
        }
    }
    CHECK(i == n, "R3: %s visited %s outside the cells it covers", name[kind], fmt_area(&rd->walk[i]));
}

static void check_len(struct reader *rd)
{
    int last = g.ncells - 1;

    rd->st.len++;
    snap_lo(rd, 0, last);
    size_t len = mset_len(g.s);
    if (!snap_hi(rd, 0, last))
        return;
    size_t lo = 0, hi = 0;
    for (int k = 0; k <= last; k++) {
        unsigned mn = MAXA, mx = 0;
        for (unsigned v = 0; v < nstates(rd, k); v++) {
            unsigned c = rd->v[k][v].n;
            mn = c < mn ? c : mn;
            mx = c > mx ? c : mx;
        }
        lo += 1 + mn;
        hi += 1 + mx;
    }
    CHECK(len >= lo && len <= hi, "len() = %zu, outside [%zu, %zu] of the states it ran in", len, lo,
          hi);
}

static struct rstats rtotal;

static void *reader_main(void *arg, int id)
{
    struct reader rd = { .r = stress_rng(1 + (uint64_t)id) };
    size_t nc = (size_t)g.ncells;

    (void)arg;
    rd.lo = calloc(nc, sizeof *rd.lo);
    rd.hi = calloc(nc, sizeof *rd.hi);
    rd.v = calloc(nc, sizeof *rd.v);
    rd.ok = calloc(nc, sizeof *rd.ok);
    rd.walk_cap = nc * (1 + MAXA);
    rd.walk = calloc(rd.walk_cap, sizeof *rd.walk);
    CHECK(rd.lo && rd.hi && rd.v && rd.ok && rd.walk, "out of memory");

    while (!stress_stopping()) {
        unsigned x = (unsigned)rng_below(&rd.r, 1000);
        if (x < 600)
            check_find(&rd);
        else if (x < 750)
            check_overlaps(&rd);
        else if (x < 880)
            check_find_next(&rd);
        else if (x < 995)
            check_free_area(&rd);
        else if (x < 996)
            check_walk(&rd, WALK_ALL);
        else if (x < 997)
            check_walk(&rd, WALK_SNAPSHOT);
        else if (x < 998)
            check_walk(&rd, WALK_RANGE);
        else
            check_len(&rd);
    }
    pthread_mutex_lock(&total_lock);
    uint64_t *t = (uint64_t *)&rtotal, *m = (uint64_t *)&rd.st;
    for (size_t i = 0; i < sizeof rtotal / sizeof *t; i++)
        t[i] += m[i];
    pthread_mutex_unlock(&total_lock);
    free(rd.lo), free(rd.hi), free(rd.v), free(rd.ok), free(rd.walk);
    return NULL;
}

/* ------------------------------------------------------------------- main */

/* Quiescent: the set, its page table and the models agree exactly. */
static void check_final(void)
{
    size_t cap = (size_t)g.ncells * (1 + MAXA), want = 0;

    CHECK(mset_check(g.s) == 0, "mset_check() failed at the end");
    struct stress_areas col = stress_collect(g.s, cap);
    size_t i = 0;
    for (int k = 0; k < g.ncells; k++) {
        const struct cell *c = &g.cells[k];
        CHECK(i < col.n && is_stable(&col.a[i], k), "end: stable area %d is not there", k);
        i++;
        for (unsigned j = 0; j < c->cur.n; j++, i++) {
            struct marea m;
            CHECK(i < col.n && decode(&col.a[i], k, &m) && marea_eq(m, c->cur.a[j]),
                  "end: slot %d area %u is %s, the model says%s", k, j,
                  i < col.n ? fmt_area(&col.a[i]) : "missing", fmt_states(c, c->ver, &c->cur, 1));
        }
        check_page_table(k, &c->cur, "the run");
        want += 1 + c->cur.n;
    }
    size_t mapped = 0, churned = 0;
    for (int k = 0; k < g.ncells; k++) {
        if (g.cells[k].frozen)
            continue;
        churned++;
        for (unsigned j = 0; j < g.cells[k].cur.n; j++)
            mapped += g.cells[k].cur.a[j].e - g.cells[k].cur.a[j].s;
    }
    printf("end: churned slots are %.0f%% mapped\n", 100.0 * (double)mapped / (double)(churned * W));
    CHECK(i == col.n && mset_len(g.s) == want, "end: %zu areas, len() %zu, the model says %zu", col.n,
          mset_len(g.s), want);
    free(col.a);

    CHECK(mset_clear(g.s) == 0 && mset_len(g.s) == 0, "clear() at the end failed");
    for (size_t u = 0; u < g.nunits; u++)
        CHECK(!g.pt[u].mapped, "after clear(), %#" PRIxPTR " is still mapped", BASE + u * UNIT);
}

int main(int argc, char **argv)
{
    struct stress_opts o = { .readers = 3, .writers = 2, .seconds = 10, .scale = 32 };

    stress_init(argc, argv, &o,
                "R1-R3 for find, find_cached, overlaps, find_next, find_free_area, foreach,"
                " foreach_range, snapshot and len, on every call, against each slot's history");
    setup_world(&o);
    double secs = stress_run(&o, reader_main, writer_main, NULL);
    check_final();
    mset_destroy(g.s);

    const struct wstats *w = &wtotal;
    const struct rstats *r = &rtotal;
    uint64_t wops = w->map + w->map_overlap + w->unmap + w->protect + w->anywhere;
    uint64_t rops = r->find + r->overlaps + r->next + r->free + r->walk[WALK_ALL] +
                    r->walk[WALK_RANGE] + r->walk[WALK_SNAPSHOT] + r->len;
    printf("writers: %" PRIu64 " ops in %.1f s (%.0f/s), %" PRIu64 " changed the set: map %" PRIu64
           " (%" PRIu64 " -EEXIST), map+unmap_overlap %" PRIu64 ", unmap %" PRIu64 " (%" PRIu64
           " splits), protect %" PRIu64 " (%" PRIu64 " 3-way), map_anywhere %" PRIu64 " (%" PRIu64
           " -ENOMEM)\n",
           wops, secs, (double)wops / secs, w->changed, w->map, w->map_eexist, w->map_overlap,
           w->unmap, w->unmap_split, w->protect, w->protect_split, w->anywhere, w->anywhere_enomem);
    printf("readers: %" PRIu64 " checked calls (%.0f/s): find %" PRIu64 " (find_cached %" PRIu64
           ", %" PRIu64 " answered by the memo), overlaps %" PRIu64 ", find_next %" PRIu64
           ", find_free_area %" PRIu64 ", foreach %" PRIu64 ", foreach_range %" PRIu64
           ", snapshot %" PRIu64 ", len %" PRIu64 "\n",
           rops, (double)rops / secs, r->find, r->cached, r->memo, r->overlaps, r->next, r->free,
           r->walk[WALK_ALL], r->walk[WALK_RANGE], r->walk[WALK_SNAPSHOT], r->len);
    printf("readers: %" PRIu64 " calls raced a writer in their slot (checked against 2+ versions),"
           " %" PRIu64 " lost the history (weak checks only)\n",
           r->raced, r->lost);
    CHECK(wops > 0 && (o.readers == 0 || rops > 0), "no progress");
    printf("PASS\n");
    return 0;
}
