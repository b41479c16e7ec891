/* SPDX-License-Identifier: MIT */
/*
 * The reader guarantees of mset.h (R1-R3), checked against a writer that
 * keeps splitting, re-flagging and re-merging areas.  A short version of
 * stress/: it runs in the unit suite for a fraction of a second.
 *
 * Layout: slot k is [k * SLOT, k * SLOT + AREA).  Even slots are stable (the
 * writer never touches them).  In odd slots the bytes outside the middle
 * [+MID, +MID + MIDLEN) are mapped at every instant: the writer only ever
 * unmaps, re-flags or replaces the middle, or replaces the whole area with
 * unmap_overlap, which R1 says readers cannot observe as a gap.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"

#define SLOT 0x1000u
#define AREA 0x400u
#define MID 0x100u
#define MIDLEN 0x100u
#define SLOTS 64u
#define FLAGS_WHOLE 1u
#define FLAGS_MID 2u


/* cmocka's assertions are for the main thread: reader threads abort. */
#define die(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), abort())

static char tags[SLOTS]; /* udata of slot k is &tags[k] */

struct shared {
    mset_t *s;
    atomic_bool stop;
    atomic_long lookups;
};

/* Is a an area the writer could have produced in its slot? */
static bool plausible(const struct mset_area *a)
{
    uintptr_t k = a->start / SLOT, base = k * SLOT;

    if (k >= SLOTS || a->udata != &tags[k] || a->backend != &nop_backend)
        return false;
    if (k % 2 == 0)
        return a->start == base && a->end == base + AREA && a->flags == FLAGS_WHOLE;
    if (a->start == base && a->end == base + AREA)
        return a->flags == FLAGS_WHOLE;
    if (a->start == base && a->end == base + MID)
        return a->flags == FLAGS_WHOLE;
    if (a->start == base + MID && a->end == base + MID + MIDLEN)
        return a->flags == FLAGS_MID;
    if (a->start == base + MID + MIDLEN && a->end == base + AREA)
        return a->flags == FLAGS_WHOLE;
    return false;
}

struct walk {
    uintptr_t prev_end;
    unsigned stable_seen[SLOTS];
    bool ok;
};

static int walk_cb(const struct mset_area *a, void *arg)
{
    struct walk *w = arg;

    if (a->start < w->prev_end || !plausible(a))
        w->ok = false;
    w->prev_end = a->end;
    if ((a->start / SLOT) % 2 == 0)
        w->stable_seen[a->start / SLOT]++;
    return 0;
}

static void check_snapshot(mset_t *s)
{
    static _Thread_local struct mset_area buf[3 * SLOTS];
    size_t n, i = 0;

    if (mset_snapshot(s, buf, 3 * SLOTS, &n) != 0)
        die("snapshot failed with %zu areas", n);
    for (unsigned k = 0; k < SLOTS; k++) {
        uintptr_t base = k * SLOT;
        size_t first = i;
        while (i < n && buf[i].start < base + SLOT) {
            if (!plausible(&buf[i]))
                die("snapshot holds an impossible area at %#lx", (unsigned long)buf[i].start);
            i++;
        }
        size_t m = i - first;
        bool whole = m == 1 && buf[first].end - buf[first].start == AREA;
        bool two = m == 2 && buf[first].end == base + MID && buf[first + 1].start == base + MID + MIDLEN;
        bool three = m == 3 && buf[first + 1].flags == FLAGS_MID;
        if (!whole && !two && !three)
            die("snapshot holds %zu pieces of slot %u, not one state", m, k);
    }
}

static void *reader(void *arg)
{
    struct shared *sh = arg;
    uint64_t x = (uintptr_t)&x | 1;
    long n = 0;

    while (!atomic_load(&sh->stop)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uintptr_t k = x % SLOTS, off = (x >> 8) % AREA, addr = k * SLOT + off;
        bool always = k % 2 == 0 || off < MID || off >= MID + MIDLEN;
        struct mset_area a;
        bool hit = mset_find(sh->s, addr, &a);

        /* R1: always-mapped bytes are always found.  R2: what is found is
         * a version the writer really published, and contains addr. */
        if (always && !hit)
            die("phantom gap at %#lx", (unsigned long)addr);
        if (hit && (!plausible(&a) || addr < a.start || addr >= a.end))
            die("impossible area [%#lx, %#lx) flags %u for %#lx", (unsigned long)a.start,
                     (unsigned long)a.end, a.flags, (unsigned long)addr);
        /* The same through a cursor, which must never answer with a memo
         * that a writer has invalidated into an impossible area. */
        static _Thread_local struct mset_cursor cur;
        hit = mset_find_cached(sh->s, addr, &cur, &a);
        if (always && !hit)
            die("phantom gap at %#lx through the cursor", (unsigned long)addr);
        if (hit && (!plausible(&a) || addr < a.start || addr >= a.end))
            die("cursor gave [%#lx, %#lx) for %#lx", (unsigned long)a.start, (unsigned long)a.end,
                (unsigned long)addr);
        if (always && !mset_overlaps(sh->s, addr, 1))
            die("overlaps() missed %#lx", (unsigned long)addr);
        /* mset_snapshot() is exact: each churned slot holds one whole
         * state the writer produced (whole, split in two, or in three). */
        if (n % 256 == 0)
            check_snapshot(sh->s);
        /* R3, every 64 lookups. */
        if (++n % 64 == 0) {
            struct walk w = { .ok = true };
            mset_foreach(sh->s, walk_cb, &w);
            if (!w.ok)
                die("foreach saw overlapping or impossible areas");
            for (unsigned i = 0; i < SLOTS; i += 2)
                if (w.stable_seen[i] != 1)
                    die("foreach visited stable slot %u %u times", i, w.stable_seen[i]);
        }
    }
    atomic_fetch_add(&sh->lookups, n);
    return NULL;
}

static bool to_mid(unsigned old, unsigned *nf, void *arg)
{
    (void)old, (void)arg;
    *nf = FLAGS_MID;
    return true;
}

static void readers_never_see_gaps_or_torn_areas(void **state)
{
    struct fx *f = *state;
    struct shared sh = { .s = mset_new(NULL) };
    pthread_t r[2];

    (void)f;
    for (unsigned k = 0; k < SLOTS; k++)
        assert_int_equal(mset_map(sh.s, k * SLOT, AREA, FLAGS_WHOLE, &nop_backend, &tags[k], false), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, &sh), 0);

    uint64_t x = 42;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uintptr_t base = ((x % (SLOTS / 2)) * 2 + 1) * SLOT;
        if (x & 0x100) /* split by unmapping the middle */
            assert_int_equal(mset_unmap(sh.s, base + MID, MIDLEN), 0);
        else /* three-way split by protecting it */
            assert_int_equal(mset_protect(sh.s, base + MID, MIDLEN, to_mid, NULL), 0);
        /* and merge back by replacing the whole area */
        assert_int_equal(mset_map(sh.s, base, AREA, FLAGS_WHOLE, &nop_backend, &tags[base / SLOT], true), 0);
    }
    atomic_store(&sh.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    assert_true(atomic_load(&sh.lookups) > 0);
    assert_int_equal(mset_len(sh.s), SLOTS);
    assert_int_equal(mset_check(sh.s), 0);
    mset_destroy(sh.s);
}

/*
 * A writer keeps adding and removing a run of areas in front of a gap that
 * stays free, while readers ask for the lowest free range at or above the
 * run: the gap (or a lower range freed by the writer) is the only possible
 * answer.  Regression: the search used to take a node's gap end from key0 and
 * its successor from next0 in two loads; an unlink between them made it skip
 * the gap and answer with the range above the next area.
 */
#define RUN 8
#define RUN_BASE 0x1100u                       /* the run: RUN areas of 0x100 */
#define STAYS_FREE (RUN_BASE + RUN * 0x100u)   /* a 0x100 gap no one maps */

struct gap_shared {
    mset_t *s;
    atomic_bool stop;
    atomic_long queries;
    atomic_bool bad;
    atomic_int bad_rc;
    atomic_uintptr_t bad_out;
};

static void *gap_reader(void *arg)
{
    struct gap_shared *sh = arg;
    long n = 0;

    while (!atomic_load(&sh->stop)) {
        uintptr_t out = 0;
        int rc = mset_find_free_area(sh->s, RUN_BASE + 0x80, 0x100, 0x1000, 0x100000, 0x100, &out);
        n++;
        if (rc != 0 || out > STAYS_FREE) {
            atomic_store(&sh->bad_rc, rc);
            atomic_store(&sh->bad_out, out);
            atomic_store(&sh->bad, true);
            atomic_store(&sh->stop, true);
        }
    }
    atomic_fetch_add(&sh->queries, n);
    return NULL;
}

static void find_free_area_never_skips_a_gap_that_stays_free(void **state)
{
    struct gap_shared sh = { .s = mset_new(NULL) };
    pthread_t r[2];
    struct timespec t0, t;

    (void)state;
    /* [0x1000, 0x1100) | run | STAYS_FREE | [STAYS_FREE + 0x100, +0x100) */
    assert_int_equal(mset_map(sh.s, 0x1000, 0x100, 1, &nop_backend, NULL, false), 0);
    assert_int_equal(mset_map(sh.s, STAYS_FREE + 0x100, 0x100, 1, &nop_backend, NULL, false), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i], NULL, gap_reader, &sh), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (unsigned i = 0; i < RUN; i++)
            assert_int_equal(mset_map(sh.s, RUN_BASE + i * 0x100u, 0x100, 2, &nop_backend, NULL, false), 0);
        assert_int_equal(mset_unmap(sh.s, RUN_BASE, RUN * 0x100u), 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (!atomic_load(&sh.stop) &&
             (t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < 1000000000L);
    atomic_store(&sh.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    if (atomic_load(&sh.bad))
        fprintf(stderr, "find_free_area returned %d with %#lx: it skipped [%#x, %#x)\n",
                atomic_load(&sh.bad_rc), (unsigned long)atomic_load(&sh.bad_out), STAYS_FREE,
                STAYS_FREE + 0x100);
    assert_false(atomic_load(&sh.bad));
    assert_true(atomic_load(&sh.queries) > 0);
    mset_destroy(sh.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(readers_never_see_gaps_or_torn_areas),
        TEST(find_free_area_never_skips_a_gap_that_stays_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
