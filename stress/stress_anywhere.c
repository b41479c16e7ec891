/* SPDX-License-Identifier: MIT */
/*
 * stress_anywhere: writers race mset_map_anywhere() for the same space while
 * readers check every area a writer owns.
 *
 * Layout: a pool of blocks, each
 *
 *   | island | pocket | island |            open (OPEN units)             |
 *
 * Islands are stable areas nobody touches.  A pocket is one free unit between
 * two islands: writers only ask for 2 units or more, so a pocket stays free
 * forever.  Writers share the open space: each maps areas with map_anywhere()
 * (hint and window random over the whole pool, so they collide), and changes
 * or removes only areas it got itself: unmap, shrink (unmap a head or tail),
 * split (protect a middle part: three pieces), protect the whole extent
 * (every piece), or replace the extent with map(unmap_overlap), which merges
 * the pieces back into one area.
 *
 * Checks:
 *   - two writers never receive the same range: the backend's page table
 *     refuses a map over a mapped unit, and right after map_anywhere()
 *     returns, find() gives the writer exactly its new area;
 *   - map_anywhere() returns an aligned range inside its window;
 *   - a writer publishes each owned area in a record guarded by a sequence
 *     number (odd while it changes the area).  A reader picks a record, finds
 *     an address inside it, and if the sequence did not move during the call
 *     the answer must be exactly that area (R1 and R2 for areas other
 *     writers race around);
 *   - islands are found exactly, pockets never;
 *   - find_free_area() for at most one unit never answers above the first
 *     pocket it could use (a range free throughout is never skipped);
 *   - foreach() is sorted, non-overlapping, visits each island once and each
 *     record that did not change during the walk once, exactly, and nothing
 *     in a pocket;
 *   - at the end, set, records and page table agree; clear() empties both.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mset.h"

_Static_assert(sizeof(uintptr_t) == 8, "udata packs writer, record and generation");

#define UNIT ((uintptr_t)0x100)
#define OPEN 28u                 /* open units per block */
#define BLOCK (3u + OPEN)        /* island, pocket, island, open */
#define BASE ((uintptr_t)0x20000000)
#define MAXREC 48                /* areas a writer may own at once */
#define ISLAND_FLAGS 0x100u

/*
 * What a writer owns: the extent [start, end) of one map, cut at c1 <= c2
 * into up to three pieces [start, c1) [c1, c2) [c2, end) with their own
 * flags (a piece may be empty; an unsplit area has c1 = c2 = end).
 */
struct rec {
    atomic_uint_fast64_t seq; /* odd while the owner changes the area */
    atomic_uint_fast64_t removals; /* bumped before an op that unmaps any of it */
    atomic_bool removing;          /* the running op unmaps some of it */
    atomic_bool live;
    atomic_uintptr_t start, end, c1, c2;
    atomic_uint flags[3];
    atomic_uint_fast32_t gen; /* part of udata: bumped by each map */
};

struct pbe {
    struct mset_backend be;
    int id; /* writer id, or -1 for islands */
};

struct pte {
    bool mapped;
    int owner;
    unsigned flags;
};

static struct {
    mset_t *s;
    int nblocks, nwriters;
    uintptr_t end;
    struct rec (*rec)[MAXREC]; /* per writer */
    struct pbe *be;            /* per writer */
    struct pte *pt;            /* per unit, written by backend calls only */
    atomic_int *hot;           /* per writer: the record it works on */
} g;

static const struct pbe *island_be;

static uintptr_t block_base(int b)
{
    return BASE + (uintptr_t)b * BLOCK * UNIT;
}

/* What is at unit u of the pool: 0 island, 1 pocket, 2 open. */
static int kind_of(uintptr_t a)
{
    unsigned u = (unsigned)((a - BASE) / UNIT % BLOCK);

    return u == 1 ? 1 : u < 3 ? 0 : 2;
}

static void *udata_of(int w, int i, uint32_t gen)
{
    return (void *)(uintptr_t)((uint64_t)(w + 1) << 48 | (uint64_t)i << 32 | gen);
}

static struct pte *pte_of(uintptr_t a)
{
    return &g.pt[(a - BASE) / UNIT];
}

/* ---------------------------------------------------------------- backend */

static void pt_range(const char *op, uintptr_t start, size_t size)
{
    CHECK(start >= BASE && start % UNIT == 0 && size % UNIT == 0 && size && start + size <= g.end,
          "backend %s [%#" PRIxPTR ", %#" PRIxPTR ") is not whole units of the pool", op, start,
          start + size);
}

static int pt_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                  unsigned flags)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_range("map", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(!p->mapped,
              "writer %d maps [%#" PRIxPTR ", %#" PRIxPTR "), but %#" PRIxPTR
              " belongs to writer %d: two writers got the same range",
              b->id, start, start + size, a, p->owner);
        CHECK(b->id < 0 || kind_of(a) == 2, "writer %d maps %#" PRIxPTR ", an island or pocket",
              b->id, a);
        *p = (struct pte){ true, b->id, flags };
    }
    return 0;
}

static int pt_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_range("unmap", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(p->mapped && p->owner == b->id,
              "backend of writer %d unmaps %#" PRIxPTR " (mapped %d, owner %d)", b->id, a,
              p->mapped, p->owner);
        p->mapped = false;
    }
    return 0;
}

static int pt_protect(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                      unsigned flags)
{
    const struct pbe *b = (const struct pbe *)be;

    (void)pt;
    pt_range("protect", start, size);
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        struct pte *p = pte_of(a);
        CHECK(p->mapped && p->owner == b->id,
              "backend of writer %d protects %#" PRIxPTR " (mapped %d, owner %d)", b->id, a,
              p->mapped, p->owner);
        p->flags = flags;
    }
    return 0;
}

/* ---------------------------------------------------------------- records */

/*
 * A record's sequence number goes through three phases per operation:
 *   4k      idle: the fields describe the area;
 *   4k + 1  the owner's operation runs: the fields still describe the area
 *           as it was before, and `removing` says whether the operation
 *           unmaps any of it;
 *   4k + 2  the owner rewrites the fields; then 4k + 4.
 * `removals` counts the operations that unmapped any of the area, so a reader
 * can tell whether every address of the extent stayed mapped during its call.
 */
static void rec_begin(struct rec *r, bool removes)
{
    atomic_store_explicit(&r->removing, removes, memory_order_relaxed);
    /* Release: a reader that sees 4k + 1 sees `removing`. */
    atomic_store_explicit(&r->seq, atomic_load_explicit(&r->seq, memory_order_relaxed) + 1,
                          memory_order_release);
    /* After the phase change, with release: a reader whose rec_read() sees
     * the new count also sees 4k + 1 when it checks seq again, and drops its
     * snapshot.  (Counted before the phase change, a snapshot taken at 4k
     * could carry the new count, and the reader then took this unmap for an
     * operation that keeps the area mapped.) */
    if (removes)
        atomic_store_explicit(&r->removals,
                              atomic_load_explicit(&r->removals, memory_order_relaxed) + 1,
                              memory_order_release);
    /* Keep the operation's stores to the set after these stores. */
    stress_fence();
}

struct snap {
    uint64_t seq, removals;
    bool running, removing; /* seq is 4k + 1; the operation unmaps */
    bool live;
    uintptr_t start, end, c1, c2;
    unsigned flags[3];
    uint32_t gen;
};

static void rec_end(struct rec *r, const struct snap *s)
{
    uint64_t seq = atomic_load_explicit(&r->seq, memory_order_relaxed);

    /* Seqlock writer: the fields are stored with release, so a reader whose
     * acquire load sees one of them also sees 4k + 2 (or later) afterwards. */
    atomic_store_explicit(&r->seq, seq + 1, memory_order_relaxed);
    atomic_store_explicit(&r->live, s->live, memory_order_release);
    atomic_store_explicit(&r->start, s->start, memory_order_release);
    atomic_store_explicit(&r->end, s->end, memory_order_release);
    atomic_store_explicit(&r->c1, s->c1, memory_order_release);
    atomic_store_explicit(&r->c2, s->c2, memory_order_release);
    for (int i = 0; i < 3; i++)
        atomic_store_explicit(&r->flags[i], s->flags[i], memory_order_release);
    atomic_store_explicit(&r->gen, s->gen, memory_order_release);
    /* Release pairs with the first load in rec_read(). */
    atomic_store_explicit(&r->seq, seq + 3, memory_order_release);
}

/* Piece i of a record: [*a, *b), empty when *a == *b. */
static void piece(const struct snap *s, int i, uintptr_t *a, uintptr_t *b)
{
    uintptr_t cut[4] = { s->start, s->c1, s->c2, s->end };

    *a = cut[i];
    *b = cut[i + 1];
}

/* Reader: the record's fields, unless they are being rewritten. */
static bool rec_read(const struct rec *r, struct snap *s)
{
    s->seq = atomic_load_explicit(&r->seq, memory_order_acquire);
    if (s->seq % 4 == 2)
        return false;
    s->running = s->seq % 4 == 1;
    s->removing = atomic_load_explicit(&r->removing, memory_order_acquire);
    s->removals = atomic_load_explicit(&r->removals, memory_order_acquire);
    s->live = atomic_load_explicit(&r->live, memory_order_acquire);
    s->start = atomic_load_explicit(&r->start, memory_order_acquire);
    s->end = atomic_load_explicit(&r->end, memory_order_acquire);
    s->c1 = atomic_load_explicit(&r->c1, memory_order_acquire);
    s->c2 = atomic_load_explicit(&r->c2, memory_order_acquire);
    for (int i = 0; i < 3; i++)
        s->flags[i] = atomic_load_explicit(&r->flags[i], memory_order_acquire);
    s->gen = (uint32_t)atomic_load_explicit(&r->gen, memory_order_acquire);
    return atomic_load_explicit(&r->seq, memory_order_relaxed) == s->seq;
}

/* Reader, after its call: is the record still in the phase rec_read() saw? */
static bool rec_same(const struct rec *r, const struct snap *s)
{
    stress_fence();
    return atomic_load_explicit(&r->seq, memory_order_acquire) == s->seq;
}

/* The record was idle and unchanged from rec_read() to here. */
static bool rec_idle(const struct rec *r, const struct snap *s)
{
    return !s->running && rec_same(r, s);
}

/* Is a exactly piece p of record i of writer w? */
static bool area_is(const struct mset_area *a, int w, int i, const struct snap *s, int p)
{
    uintptr_t p0, p1;

    piece(s, p, &p0, &p1);
    return p0 < p1 && a->start == p0 && a->end == p1 && a->flags == s->flags[p] &&
           a->backend == &g.be[w].be && a->udata == udata_of(w, i, s->gen);
}

/* The piece holding addr. */
static int piece_of(const struct snap *s, uintptr_t addr)
{
    return addr < s->c1 ? 0 : addr < s->c2 ? 1 : 2;
}

static char *fmt_area(const struct mset_area *a, char *b, size_t n)
{
    snprintf(b, n, "[%#" PRIxPTR ", %#" PRIxPTR ") flags %#x backend %p udata %p", a->start,
             a->end, a->flags, (const void *)a->backend, a->udata);
    return b;
}

/* ---------------------------------------------------------------- writers */

struct wstats {
    uint64_t anywhere, enomem, unmap, shrink, split, protect, replace;
};

static struct wstats wtotal;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

/* update() for protect: set `set`; records the old flags it is shown. */
struct upd {
    unsigned set, calls, old[4];
};

static bool set_flags(unsigned old, unsigned *nf, void *arg)
{
    struct upd *u = arg;

    if (u->calls < 4)
        u->old[u->calls] = old;
    u->calls++;
    *nf = u->set;
    return true;
}

/* After an operation on its own area, the writer's lookups are exact. */
static void check_own(int w, int i, const char *what)
{
    struct snap s;
    struct mset_area a;
    char b[160];

    CHECK(rec_read(&g.rec[w][i], &s) && !s.running, "writer %d: its own record %d is busy", w, i);
    if (!s.live)
        return;
    for (int p = 0; p < 3; p++) {
        uintptr_t p0, p1;
        piece(&s, p, &p0, &p1);
        if (p0 == p1)
            continue;
        uintptr_t mid = p0 + (p1 - p0) / 2;
        bool hit = mset_find(g.s, mid, &a);
        CHECK(hit && area_is(&a, w, i, &s, p),
              "writer %d after %s: find(%#" PRIxPTR ") = %s, expected its own [%#" PRIxPTR
              ", %#" PRIxPTR ") flags %#x gen %u",
              w, what, mid, hit ? fmt_area(&a, b, sizeof b) : "nothing", p0, p1, s.flags[p], s.gen);
    }
}

/* Map a new area anywhere in the pool (or a random window of it). */
static void op_map_anywhere(struct rng *r, int w, int i, struct snap *s, struct wstats *st)
{
    uintptr_t pool = g.end - BASE;
    size_t align = UNIT << (rng_below(r, 4) ? 0 : rng_range(r, 1, 2));
    /* 2 to 6 units: never fits a pocket. */
    size_t size = align * rng_range(r, align > UNIT ? 1 : 2, 6 * UNIT / align);
    uintptr_t l0 = BASE, l1 = g.end;
    if (rng_below(r, 2)) {
        l0 = BASE + rng_below(r, pool / 2) / UNIT * UNIT;
        l1 = l0 + pool / 4 + rng_below(r, g.end - l0 - pool / 4 + 1);
    }
    uintptr_t hint = l0 + rng_below(r, l1 - l0), out = 0;
    unsigned flags = (unsigned)rng_range(r, 1, 7);
    char what[160];

    rec_begin(&g.rec[w][i], false);
    int ret = mset_map_anywhere(g.s, hint, size, l0, l1, align, flags, &g.be[w].be,
                                udata_of(w, i, s->gen + 1), &out);
    snprintf(what, sizeof what,
             "map_anywhere(hint %#" PRIxPTR ", size %#zx, limit [%#" PRIxPTR ", %#" PRIxPTR
             "), align %#zx)",
             hint, size, l0, l1, align);
    CHECK(ret == 0 || ret == -ENOMEM, "writer %d: %s returned %d", w, what, ret);
    st->anywhere++;
    if (ret == 0) {
        CHECK(out % align == 0 && out >= (hint > l0 ? hint : l0) && out < l1 && l1 - out >= size,
              "writer %d: %s = %#" PRIxPTR ": unaligned or outside the window", w, what, out);
        *s = (struct snap){ .removals = s->removals, .live = true, .start = out, .end = out + size, .c1 = out + size,
                            .c2 = out + size, .flags = { flags, flags, flags }, .gen = s->gen + 1 };
    }
    st->enomem += ret != 0;
    rec_end(&g.rec[w][i], s);
    check_own(w, i, what);
}

/* Change an area this writer owns. */
static void op_change(struct rng *r, int w, int i, struct snap *s, struct wstats *st)
{
    const struct mset_backend *be = &g.be[w].be;
    bool split = s->c1 < s->end;
    size_t units = (s->end - s->start) / UNIT;
    unsigned x = (unsigned)rng_below(r, 5);
    char what[160];
    int ret;

    /* Split, protect and replace keep the whole extent mapped. */
    rec_begin(&g.rec[w][i], x == 0 || (x == 1 && !split && units >= 2));
    if (x == 0) {
        snprintf(what, sizeof what, "unmap([%#" PRIxPTR ", %#" PRIxPTR "))", s->start, s->end);
        ret = mset_unmap(g.s, s->start, s->end - s->start);
        s->live = false;
        st->unmap++;
    } else if (x == 1 && !split && units >= 2) {
        size_t cut = UNIT * rng_range(r, 1, units - 1);
        bool head = rng_below(r, 2);
        uintptr_t a = head ? s->start : s->end - cut;
        snprintf(what, sizeof what, "unmap([%#" PRIxPTR ", %#" PRIxPTR ")) of the %s", a, a + cut,
                 head ? "head" : "tail");
        ret = mset_unmap(g.s, a, cut);
        if (head)
            s->start += cut;
        else
            s->end -= cut;
        s->c1 = s->c2 = s->end;
        st->shrink++;
    } else if (x == 2 && !split && units >= 3) {
        /* Protect a middle part: three pieces published at once. */
        struct upd u = { .set = s->flags[0] % 7 + 1 };
        uintptr_t c1 = s->start + UNIT * rng_range(r, 1, units - 2);
        uintptr_t c2 = c1 + UNIT * rng_range(r, 1, (s->end - c1) / UNIT - 1);
        snprintf(what, sizeof what, "protect([%#" PRIxPTR ", %#" PRIxPTR "), %u) inside [%#" PRIxPTR
                 ", %#" PRIxPTR ")", c1, c2, u.set, s->start, s->end);
        ret = mset_protect(g.s, c1, c2 - c1, set_flags, &u);
        CHECK(u.calls == 1 && u.old[0] == s->flags[0],
              "writer %d: %s called update() %u times, first with %u; expected once with %u", w,
              what, u.calls, u.old[0], s->flags[0]);
        s->c1 = c1;
        s->c2 = c2;
        s->flags[1] = u.set;
        st->split++;
    } else if (x <= 3) {
        /* Protect the whole extent: update() once per piece, in order. */
        struct upd u = { .set = (unsigned)rng_range(r, 1, 7) };
        unsigned want = 0, old[3];
        for (int p = 0; p < 3; p++) {
            uintptr_t p0, p1;
            piece(s, p, &p0, &p1);
            if (p0 < p1)
                old[want++] = s->flags[p];
        }
        snprintf(what, sizeof what, "protect([%#" PRIxPTR ", %#" PRIxPTR "), %u)", s->start, s->end,
                 u.set);
        ret = mset_protect(g.s, s->start, s->end - s->start, set_flags, &u);
        CHECK(u.calls == want, "writer %d: %s called update() %u times for %u pieces", w, what,
              u.calls, want);
        for (unsigned p = 0; p < want; p++)
            CHECK(u.old[p] == old[p], "writer %d: %s: update() call %u saw %u, expected %u", w, what,
                  p, u.old[p], old[p]);
        s->flags[0] = s->flags[1] = s->flags[2] = u.set;
        st->protect++;
    } else {
        /* Replace the extent: its pieces merge back into one new area. */
        unsigned flags = (unsigned)rng_range(r, 1, 7);
        snprintf(what, sizeof what, "map([%#" PRIxPTR ", %#" PRIxPTR "), unmap_overlap) over %s",
                 s->start, s->end, split ? "3 pieces" : "1 area");
        ret = mset_map(g.s, s->start, s->end - s->start, flags, be, udata_of(w, i, s->gen + 1), true);
        s->c1 = s->c2 = s->end;
        s->flags[0] = s->flags[1] = s->flags[2] = flags;
        s->gen++;
        st->replace++;
    }
    rec_end(&g.rec[w][i], s);
    CHECK(ret == 0, "writer %d: %s returned %d", w, what, ret);
    check_own(w, i, what);
}

static void *writer_main(void *arg, int w)
{
    struct rng r = stress_rng(1000 + (uint64_t)w);
    struct wstats st = { 0 };
    int live = 0;

    (void)arg;
    while (!stress_stopping()) {
        int i = (int)rng_below(&r, MAXREC);
        struct snap s;

        rec_read(&g.rec[w][i], &s); /* our own record: idle here */
        atomic_store_explicit(&g.hot[w], i, memory_order_relaxed);
        if (!s.live) {
            if (rng_below(&r, MAXREC) < (uint64_t)live)
                continue; /* keep about half of the records live */
            op_map_anywhere(&r, w, i, &s, &st);
            live += s.live;
        } else {
            op_change(&r, w, i, &s, &st);
            live -= !s.live;
        }
        stress_op_done();
    }
    pthread_mutex_lock(&total_lock);
    uint64_t *t = (uint64_t *)&wtotal, *m = (uint64_t *)&st;
    for (size_t k = 0; k < sizeof wtotal / sizeof *t; k++)
        t[k] += m[k];
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

/* ---------------------------------------------------------------- readers */

struct rstats {
    uint64_t owned, raced, skipped, islands, pockets, others, free, walk;
};

static struct rstats rtotal;

struct reader {
    struct rng r;
    struct rstats st;
    struct snap *before; /* per record, for foreach */
    bool *ok;
    struct mset_area *walk;
    size_t nwalk, cap;
};

static bool is_island(const struct mset_area *a, uintptr_t addr)
{
    uintptr_t u = (addr - BASE) / UNIT;

    return a->start == BASE + u * UNIT && a->end == a->start + UNIT &&
           a->flags == ISLAND_FLAGS && a->backend == &island_be->be &&
           a->udata == udata_of(-1, 0, (uint32_t)u);
}

/* A found area that belongs to some writer: plausible fields only (the
 * record may be changing). */
static bool plausible(const struct mset_area *a)
{
    uint64_t ud = (uint64_t)(uintptr_t)a->udata;
    int w = (int)(ud >> 48) - 1, i = (int)(ud >> 32 & 0xffff);

    if (w < 0 || w >= g.nwriters || i >= MAXREC || a->backend != &g.be[w].be)
        return false;
    if (a->start < BASE || a->end > g.end || a->start >= a->end || a->start % UNIT ||
        a->end % UNIT || a->flags < 1 || a->flags > 7)
        return false;
    for (uintptr_t x = a->start; x < a->end; x += UNIT)
        if (kind_of(x) != 2)
            return false;
    return true;
}

static void check_owned(struct reader *rd)
{
    int w = (int)rng_below(&rd->r, (uint64_t)g.nwriters), i = (int)rng_below(&rd->r, MAXREC);
    /* Half of the lookups go to the area a writer is changing right now. */
    if (rng_below(&rd->r, 2))
        i = atomic_load_explicit(&g.hot[w], memory_order_relaxed);
    const struct rec *rc = &g.rec[w][i];
    struct snap s;
    struct mset_area a;
    char b[160];

    if (!rec_read(rc, &s) || !s.live || (s.running && s.removing))
        return;
    uintptr_t addr = s.start + rng_below(&rd->r, s.end - s.start);
    bool hit = mset_find(g.s, addr, &a);
    if (rec_idle(rc, &s)) {
        /* Nothing changed this area during the call: exactly its piece. */
        rd->st.owned++;
        int p = piece_of(&s, addr);
        uintptr_t p0, p1;
        piece(&s, p, &p0, &p1);
        CHECK(hit && area_is(&a, w, i, &s, p),
              "R1/R2: find(%#" PRIxPTR ") = %s, but writer %d's area [%#" PRIxPTR ", %#" PRIxPTR
              ") flags %#x gen %u held it throughout the call",
              addr, hit ? fmt_area(&a, b, sizeof b) : "nothing", w, p0, p1, s.flags[p], s.gen);
        return;
    }
    if (atomic_load_explicit(&rc->removals, memory_order_acquire) != s.removals) {
        rd->st.skipped++; /* part of it may have been unmapped */
        return;
    }
    /* Its owner split, protected or replaced it during the call, which keeps
     * every address of the extent mapped (R1): found, in a version of this
     * record's area (R2). */
    rd->st.raced++;
    uint64_t ud = (uint64_t)(uintptr_t)a.udata;
    CHECK(hit && a.start <= addr && addr < a.end && a.start >= s.start && a.end <= s.end &&
              a.backend == &g.be[w].be && ud >> 32 == ((uint64_t)(w + 1) << 16 | (uint64_t)i) &&
              (uint32_t)ud - s.gen < 0x80000000u && a.flags >= 1 && a.flags <= 7,
          "R1/R2: find(%#" PRIxPTR ") = %s while writer %d changed its area [%#" PRIxPTR
          ", %#" PRIxPTR ") gen %u, which stays mapped: expected a version of that area",
          addr, hit ? fmt_area(&a, b, sizeof b) : "nothing", w, s.start, s.end, s.gen);
}

static void check_anywhere(struct reader *rd)
{
    uintptr_t addr = BASE + rng_below(&rd->r, g.end - BASE);
    struct mset_area a;
    char b[160];
    bool hit = mset_find(g.s, addr, &a);

    switch (kind_of(addr)) {
    case 0:
        rd->st.islands++;
        CHECK(hit && is_island(&a, addr), "find(%#" PRIxPTR ") in an island returned %s", addr,
              hit ? fmt_area(&a, b, sizeof b) : "nothing");
        break;
    case 1:
        rd->st.pockets++;
        CHECK(!hit, "find(%#" PRIxPTR ") in a pocket that stays free returned %s", addr,
              fmt_area(&a, b, sizeof b));
        break;
    default:
        rd->st.others++;
        CHECK(!hit || (plausible(&a) && a.start <= addr && addr < a.end),
              "R2: find(%#" PRIxPTR ") returned %s, no area a writer could have made", addr,
              fmt_area(&a, b, sizeof b));
    }
}

static void check_free(struct reader *rd)
{
    struct rng *r = &rd->r;
    uintptr_t l0 = BASE + rng_below(r, g.end - BASE);
    uintptr_t l1 = l0 + rng_range(r, 1, g.end - l0);
    uintptr_t hint = rng_below(r, 4) ? l0 : l0 + rng_below(r, l1 - l0 + 1);
    size_t align = (size_t)1 << rng_range(r, 4, 8);
    size_t size = align * rng_range(r, 1, UNIT / align);
    uintptr_t lo = hint > l0 ? hint : l0, out = 0;

    rd->st.free++;
    int rc = mset_find_free_area(g.s, hint, size, l0, l1, align, &out);
    /* The first pocket at or above lo that the request fits in. */
    uintptr_t bound = 0;
    for (int b = (int)((lo - BASE) / (BLOCK * UNIT)); b < g.nblocks && !bound; b++) {
        uintptr_t p0 = block_base(b) + UNIT, p1 = p0 + UNIT;
        uintptr_t a = ((p0 > lo ? p0 : lo) + align - 1) & ~(uintptr_t)(align - 1);
        if (a >= p0 && a < p1 && a + size <= p1 && a + size <= l1)
            bound = a;
    }
    CHECK(rc == 0 || (rc == -ENOMEM && !bound),
          "find_free_area(hint %#" PRIxPTR ", size %#zx, limit [%#" PRIxPTR ", %#" PRIxPTR
          "), align %#zx) = %d, but the pocket at %#" PRIxPTR " is always free",
          hint, size, l0, l1, align, rc, bound);
    if (rc)
        return;
    CHECK(out % align == 0 && out >= lo && out < l1 && l1 - out >= size && (!bound || out <= bound),
          "find_free_area(hint %#" PRIxPTR ", size %#zx, limit [%#" PRIxPTR ", %#" PRIxPTR
          "), align %#zx) = %#" PRIxPTR ": outside the window, unaligned, or above the free pocket"
          " at %#" PRIxPTR,
          hint, size, l0, l1, align, out, bound);
    for (uintptr_t x = out; x < out + size && x < g.end; x = (x / UNIT + 1) * UNIT)
        CHECK(kind_of(x) != 0, "find_free_area(...) = %#" PRIxPTR ": overlaps an island", out);
}

static int walk_cb(const struct mset_area *a, void *arg)
{
    struct reader *rd = arg;

    CHECK(rd->nwalk < rd->cap, "foreach visited more areas than the pool can hold");
    rd->walk[rd->nwalk++] = *a;
    return 0;
}

static void check_foreach(struct reader *rd)
{
    int nrec = g.nwriters * MAXREC;
    char b[160];

    rd->st.walk++;
    for (int k = 0; k < nrec; k++)
        rd->ok[k] = rec_read(&g.rec[k / MAXREC][k % MAXREC], &rd->before[k]) &&
                    !rd->before[k].running;
    rd->nwalk = 0;
    CHECK(mset_foreach(g.s, walk_cb, rd) == 0, "foreach failed");
    for (int k = 0; k < nrec; k++)
        rd->ok[k] = rd->ok[k] && rec_idle(&g.rec[k / MAXREC][k % MAXREC], &rd->before[k]);

    uintptr_t prev = 0;
    size_t islands = 0;
    for (size_t j = 0; j < rd->nwalk; j++) {
        const struct mset_area *a = &rd->walk[j];
        CHECK(a->start >= prev, "R3: foreach visited %s after an area ending at %#" PRIxPTR,
              fmt_area(a, b, sizeof b), prev);
        prev = a->end;
        if (a->backend == &island_be->be) {
            CHECK(is_island(a, a->start), "R3: foreach visited a torn island %s",
                  fmt_area(a, b, sizeof b));
            islands++;
        } else {
            CHECK(plausible(a), "R3: foreach visited %s, no area a writer could have made",
                  fmt_area(a, b, sizeof b));
        }
    }
    CHECK(islands == 2 * (size_t)g.nblocks, "R3: foreach visited %zu islands of %d", islands,
          2 * g.nblocks);
    for (int k = 0; k < nrec; k++) {
        const struct snap *s = &rd->before[k];
        if (!rd->ok[k] || !s->live)
            continue;
        for (int p = 0; p < 3; p++) {
            uintptr_t p0, p1;
            piece(s, p, &p0, &p1);
            if (p0 == p1)
                continue;
            size_t n = 0;
            for (size_t j = 0; j < rd->nwalk; j++)
                n += area_is(&rd->walk[j], k / MAXREC, k % MAXREC, s, p);
            CHECK(n == 1,
                  "R3: foreach visited writer %d's area [%#" PRIxPTR ", %#" PRIxPTR
                  ") %zu times; it was there throughout",
                  k / MAXREC, p0, p1, n);
        }
    }
}

static void *reader_main(void *arg, int id)
{
    struct reader rd = { .r = stress_rng(1 + (uint64_t)id) };
    size_t nrec = (size_t)g.nwriters * MAXREC;

    (void)arg;
    rd.before = calloc(nrec, sizeof *rd.before);
    rd.ok = calloc(nrec, sizeof *rd.ok);
    rd.cap = (g.end - BASE) / UNIT;
    rd.walk = calloc(rd.cap, sizeof *rd.walk);
    CHECK(rd.before && rd.ok && rd.walk, "out of memory");
    while (!stress_stopping()) {
        unsigned x = (unsigned)rng_below(&rd.r, 1000);
        if (x < 600)
            check_owned(&rd);
        else if (x < 850)
            check_anywhere(&rd);
        else if (x < 997)
            check_free(&rd);
        else
            check_foreach(&rd);
    }
    pthread_mutex_lock(&total_lock);
    uint64_t *t = (uint64_t *)&rtotal, *m = (uint64_t *)&rd.st;
    for (size_t i = 0; i < sizeof rtotal / sizeof *t; i++)
        t[i] += m[i];
    pthread_mutex_unlock(&total_lock);
    free(rd.before), free(rd.ok), free(rd.walk);
    return NULL;
}

/* ------------------------------------------------------------------- main */

static void check_final(void)
{
    size_t cap = (g.end - BASE) / UNIT, live = 0;
    char b[160];

    CHECK(mset_check(g.s) == 0, "mset_check() failed at the end");
    struct stress_areas c = stress_collect(g.s, cap);
    for (int w = 0; w < g.nwriters; w++) {
        for (int i = 0; i < MAXREC; i++) {
            struct snap s;
            CHECK(rec_read(&g.rec[w][i], &s) && !s.running, "end: record busy");
            if (!s.live)
                continue;
            for (int p = 0; p < 3; p++) {
                uintptr_t p0, p1;
                piece(&s, p, &p0, &p1);
                if (p0 == p1)
                    continue;
                live++;
                size_t n = 0;
                for (size_t j = 0; j < c.n; j++)
                    n += area_is(&c.a[j], w, i, &s, p);
                CHECK(n == 1, "end: writer %d's area [%#" PRIxPTR ", %#" PRIxPTR ") is there %zu times",
                      w, p0, p1, n);
                for (uintptr_t x = p0; x < p1; x += UNIT)
                    CHECK(pte_of(x)->mapped && pte_of(x)->owner == w && pte_of(x)->flags == s.flags[p],
                          "end: page table disagrees at %#" PRIxPTR, x);
            }
        }
    }
    CHECK(c.n == live + 2 * (size_t)g.nblocks && mset_len(g.s) == c.n,
          "end: %zu areas, len() %zu, expected %zu live areas and %d islands (first: %s)", c.n,
          mset_len(g.s), live, 2 * g.nblocks, c.n ? fmt_area(&c.a[0], b, sizeof b) : "none");
    size_t mapped = 0;
    for (size_t u = 0; u < cap; u++)
        mapped += g.pt[u].mapped;
    printf("end: %zu areas (pieces) owned by writers, pool %.0f%% mapped\n", live,
           100.0 * (double)mapped / (double)cap);
    free(c.a);
    CHECK(mset_clear(g.s) == 0 && mset_len(g.s) == 0, "clear() at the end failed");
    for (size_t u = 0; u < cap; u++)
        CHECK(!g.pt[u].mapped, "after clear(), %#" PRIxPTR " is still mapped", BASE + u * UNIT);
}

int main(int argc, char **argv)
{
    struct stress_opts o = { .readers = 2, .writers = 3, .seconds = 10, .scale = 16 };
    static const struct pbe islands = { { pt_map, pt_unmap, pt_protect }, -1 };

    stress_init(argc, argv, &o,
                "writers race map_anywhere() for one pool; readers check owned areas exactly,"
                " islands, pockets, find_free_area and foreach");
    g.nblocks = o.scale;
    g.nwriters = o.writers;
    g.end = block_base(g.nblocks);
    g.rec = calloc((size_t)o.writers, sizeof *g.rec);
    g.be = calloc((size_t)o.writers, sizeof *g.be);
    g.pt = calloc((g.end - BASE) / UNIT, sizeof *g.pt);
    g.hot = calloc((size_t)o.writers, sizeof *g.hot);
    g.s = mset_new(NULL);
    island_be = &islands;
    CHECK(g.rec && g.be && g.pt && g.hot && g.s, "out of memory");
    for (int w = 0; w < o.writers; w++)
        g.be[w] = (struct pbe){ { pt_map, pt_unmap, pt_protect }, w };
    for (int b = 0; b < g.nblocks; b++) {
        for (unsigned u = 0; u < 3; u += 2) {
            uintptr_t a = block_base(b) + u * UNIT;
            CHECK(mset_map(g.s, a, UNIT, ISLAND_FLAGS, &islands.be,
                           udata_of(-1, 0, (uint32_t)((a - BASE) / UNIT)), false) == 0,
                  "setup: island map failed");
        }
    }

    double secs = stress_run(&o, reader_main, writer_main, NULL);
    check_final();
    mset_destroy(g.s);

    const struct wstats *w = &wtotal;
    const struct rstats *r = &rtotal;
    uint64_t wops = w->anywhere + w->unmap + w->shrink + w->split + w->protect + w->replace;
    uint64_t rops = r->owned + r->raced + r->skipped + r->islands + r->pockets + r->others + r->free + r->walk;
    printf("writers: %" PRIu64 " ops in %.1f s (%.0f/s): map_anywhere %" PRIu64 " (%" PRIu64
           " -ENOMEM), unmap %" PRIu64 ", shrink %" PRIu64 ", split %" PRIu64 ", protect %" PRIu64
           ", replace %" PRIu64 "\n",
           wops, secs, (double)wops / secs, w->anywhere, w->enomem, w->unmap, w->shrink, w->split,
           w->protect, w->replace);
    printf("readers: %" PRIu64 " checked calls (%.0f/s): owned areas exact %" PRIu64
           ", raced their owner %" PRIu64 " (+%" PRIu64 " skipped: an unmap ran), islands %" PRIu64
           ", pockets %" PRIu64 ", other %" PRIu64 ", find_free_area %" PRIu64 ", foreach %" PRIu64
           "\n",
           rops, (double)rops / secs, r->owned, r->raced, r->skipped, r->islands, r->pockets,
           r->others, r->free, r->walk);
    CHECK(wops > 0 && (o.readers == 0 || rops > 0), "no progress");
    printf("PASS\n");
    return 0;
}
