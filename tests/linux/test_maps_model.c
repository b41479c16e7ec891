/* SPDX-License-Identifier: MIT */
/*
 * Random sequences of map, unmap and protect (fixed seeds, hundreds of
 * operations each) through the Linux backends.  After every operation the
 * kernel's view (/proc/self/maps, mincore) is compared with the set page by
 * page: the kernel merges and splits mappings as it likes, so boundaries are
 * not compared, protections are.  Random touches prove that the protections
 * are real.  A failure prints the seed and the operation number.
 */
#include "linuxutil.h"

#define SPAN_PAGES 96
#define OPS 300

struct run {
    uint64_t rng;
    unsigned seed;
    int op;
    mset_t *s;
    const struct mset_backend *be;
    uintptr_t base;
    bool arena; /* unmapped pages are reserved (prot 0), else not mapped (-1) */
};

static uint64_t next(struct run *r)
{
    /* xorshift64* */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 0x2545f4914f6cdd1dull;
}

static unsigned below(struct run *r, unsigned n)
{
    return (unsigned)(next(r) % n);
}

static unsigned random_flags(struct run *r)
{
    unsigned f = below(r, 8);           /* any mix of READ, WRITE, EXEC */
    return below(r, 4) ? f : f | 0x100; /* sometimes a bit the backend ignores */
}

static bool set_flags(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static void disagree(const struct run *r, uintptr_t page, const char *what, int got, int want)
{
    fprintf(stderr, "seed %u, op %d: page %#lx (index %lu): %s is %d, expected %d\n", r->seed,
            r->op, (unsigned long)page, (unsigned long)((page - r->base) / ps()), what, got, want);
    fail_msg("kernel and set disagree");
}

/* Page by page, the kernel says what the set says. */
static void compare(const struct run *r)
{
    struct maps m;
    size_t span = SPAN_PAGES * ps();

    assert_int_equal(mset_check(r->s), 0);
    maps_read(&m, r->base, r->base + span);
    /* In an arena every page is mapped, so mincore() can say which hold
     * memory; outside one, unmapped pages hold none by definition. */
    unsigned char vec[SPAN_PAGES] = {0};
    if (r->arena)
        assert_int_equal(mincore((void *)r->base, span, vec), 0);
    for (unsigned i = 0; i < SPAN_PAGES; i++) {
        uintptr_t p = r->base + i * ps();
        struct mset_area a;
        bool in = mset_find(r->s, p, &a);
        const struct vma *v = maps_at(&m, p);
        int want = in ? (int)(a.flags & RWX) : (r->arena ? 0 : -1);
        int got = v ? (int)v->prot : -1;
        if (got != want)
            disagree(r, p, "kernel protection", got, want);
        if (!in && (vec[i] & 1))
            disagree(r, p, "residency of a page outside every area", 1, 0);
    }
    maps_free(&m);
}

/* Touch a random page: what the set allows succeeds, the rest faults. */
static void probe(struct run *r)
{
    uintptr_t p = r->base + below(r, SPAN_PAGES) * ps() + below(r, (unsigned)ps());
    struct mset_area a;
    unsigned fl = mset_find(r->s, p, &a) ? a.flags : 0;
    int sig;

    if (fl & MSET_WRITE) {
        if ((sig = touch_write(p, (unsigned char)r->op)) != 0)
            disagree(r, p & ~(ps() - 1), "signal on writing a writable page", sig, 0);
    } else if (fl & MSET_READ) {
        if ((sig = touch_read(p, NULL)) != 0)
            disagree(r, p & ~(ps() - 1), "signal on reading a readable page", sig, 0);
        if ((sig = touch_write(p, 1)) != SIGSEGV)
            disagree(r, p & ~(ps() - 1), "signal on writing a read-only page", sig, SIGSEGV);
    } else if (!(fl & MSET_EXEC)) { /* x86 lets PROT_EXEC read */
        if ((sig = touch_read(p, NULL)) != SIGSEGV)
            disagree(r, p & ~(ps() - 1), "signal on reading a no-access page", sig, SIGSEGV);
    }
}

static void step(struct run *r)
{
    uintptr_t start = r->base + below(r, SPAN_PAGES) * ps();
    size_t max = (size_t)((r->base + SPAN_PAGES * ps() - start) / ps());
    size_t len = (1 + below(r, 12)) * ps();
    if (len > max * ps())
        len = max * ps();
    unsigned fl = random_flags(r);
    int rc;

    switch (below(r, 4)) {
    case 0: {
        bool replace = below(r, 2);
        bool busy = mset_overlaps(r->s, start, len);
        rc = mset_map(r->s, start, len, fl, r->be, NULL, replace);
        if (rc != (busy && !replace ? -EEXIST : 0))
            disagree(r, start, "mset_map", rc, busy && !replace ? -EEXIST : 0);
        break;
    }
    case 1:
        if ((rc = mset_unmap(r->s, start, len)) != 0)
            disagree(r, start, "mset_unmap", rc, 0);
        break;
    case 2:
        if ((rc = mset_protect(r->s, start, len, set_flags, &fl)) != 0)
            disagree(r, start, "mset_protect", rc, 0);
        break;
    default: {
        uintptr_t at;
        rc = mset_map_anywhere(r->s, start, len, r->base, r->base + SPAN_PAGES * ps(), ps(), fl,
                               r->be, NULL, &at);
        if (rc != 0 && rc != -ENOMEM)
            disagree(r, start, "mset_map_anywhere", rc, 0);
        break;
    }
    }
}

static void run_seed(unsigned seed, bool arena)
{
    struct run r = {.rng = 0x9e3779b97f4a7c15ull * (seed + 1), .seed = seed, .arena = arena};
    mset_arena_t *a = NULL;

    r.s = mset_new(NULL);
    assert_non_null(r.s);
    if (arena) {
        a = mset_arena_new(0, SPAN_PAGES * ps(), NULL);
        assert_non_null(a);
        r.be = mset_arena_backend(a);
        r.base = mset_arena_start(a);
    } else {
        r.be = mset_mmap_backend();
        r.base = free_range(SPAN_PAGES * ps());
    }
    for (r.op = 0; r.op < OPS; r.op++) {
        step(&r);
        compare(&r);
        for (int k = 0; k < 3; k++)
            probe(&r);
    }
    assert_int_equal(mset_clear(r.s), 0);
    compare(&r);
    assert_int_equal(mset_arena_destroy(a), 0);
    mset_destroy(r.s);
}

static void arena_seed_1(void **state)
{
    (void)state;
    run_seed(1, true);
}

static void arena_seed_2(void **state)
{
    (void)state;
    run_seed(2, true);
}

static void arena_seed_3(void **state)
{
    (void)state;
    run_seed(3, true);
}

static void plain_seed_1(void **state)
{
    (void)state;
    run_seed(1, false);
}

static void plain_seed_2(void **state)
{
    (void)state;
    run_seed(2, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_seed_1), cmocka_unit_test(arena_seed_2),
        cmocka_unit_test(arena_seed_3), cmocka_unit_test(plain_seed_1),
        cmocka_unit_test(plain_seed_2),
    };
    return run_group(tests);
}
