/* SPDX-License-Identifier: MIT */
/* mset_find_free_area() and mset_map_anywhere(). */
#include <pthread.h>

#include "testutil.h"

static void find_free_area_takes_the_lowest_fit(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1180, 0x100, 1); /* a 0x80 gap: too small */
    MAP(f, 0x1380, 0x100, 1); /* a 0x100 gap before it */
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x100, 0, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0x1280);
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x101, 0, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0x1480);
    assert_int_equal(mset_find_free_area(f->s, 0, 0x100, 0, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0); /* below the first area */
}

static void find_free_area_starts_at_hint(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0;

    MAP(f, 0x1000, 0x1000, 1);
    assert_int_equal(mset_find_free_area(f->s, 0x1800, 0x100, 0, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0x2000); /* hint inside an area: the area's end */
    assert_int_equal(mset_find_free_area(f->s, 0x2345, 0x100, 0, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0x2345); /* hint in a gap: the hint itself */
    assert_int_equal(mset_find_free_area(f->s, 0x0, 0x100, 0x3000, 0x10000, 1, &at), 0);
    assert_int_equal(at, 0x3000); /* hint below the limit is raised to it */
}

static void find_free_area_aligns_the_start(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0;

    MAP(f, 0x1000, 0x180, 1);
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x100, 0, 0x10000, 0x100, &at), 0);
    assert_int_equal(at, 0x1200);
    /* A gap big enough for the size but not once aligned is skipped. */
    MAP(f, 0x1300, 0x100, 1); /* gap [0x1180, 0x1300): 0x180 bytes, one aligned 0x100 */
    MAP(f, 0x2000, 0x100, 1);
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x200, 0, 0x10000, 0x200, &at), 0);
    assert_int_equal(at, 0x1400);
    assert_int_equal(mset_find_free_area(f->s, 0x1001, 0x1000, 0, 0x10000, 0x1000, &at), 0);
    assert_int_equal(at, 0x3000);
}

static void find_free_area_respects_the_limit(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0x77;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 1);
    /* Fits exactly up to limit_end. */
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x100, 0x1000, 0x1200, 1, &at), 0);
    assert_int_equal(at, 0x1100);
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x101, 0x1000, 0x1300, 1, &at), -ENOMEM);
    assert_int_equal(mset_find_free_area(f->s, 0x1000, 0x100, 0x1000, 0x1400, 1, &at), 0);
    assert_int_equal(at, 0x1100);
    assert_int_equal(mset_find_free_area(f->s, 0x1101, 0x100, 0x1000, 0x1400, 1, &at), 0);
    assert_int_equal(at, 0x1300);
    assert_int_equal(mset_find_free_area(f->s, 0x1101, 0x100, 0x1000, 0x13ff, 1, &at), -ENOMEM);
    /* The top of the address space. */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x1000, UINTPTR_MAX - 0x1000, UINTPTR_MAX,
                                         0x1000, &at), -ENOMEM);
    assert_int_equal(mset_find_free_area(f->s, 0, 0x1000, UINTPTR_MAX - 0x1fff, UINTPTR_MAX,
                                         0x1000, &at), 0);
    assert_int_equal(at, UINTPTR_MAX - 0x1fff);
}

static void find_free_area_rejects_bad_arguments(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0x77;

    assert_int_equal(mset_find_free_area(f->s, 0, 0, 0, 0x10000, 1, &at), -EINVAL);       /* size 0 */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x100, 0, 0x10000, 0, &at), -EINVAL);   /* align 0 */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x300, 0, 0x10000, 0x300, &at), -EINVAL); /* not 2^k */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x180, 0, 0x10000, 0x100, &at), -EINVAL); /* size % align */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x100, 0x2000, 0x1000, 1, &at), -EINVAL); /* limits */
    assert_int_equal(mset_find_free_area(f->s, 0x20000, 0x100, 0, 0x10000, 1, &at), -EINVAL); /* hint */
    assert_int_equal(mset_find_free_area(f->s, 0, 0x100, 0, 0x10000, 1, NULL), -EINVAL);
    assert_int_equal(mset_find_free_area(NULL, 0, 0x100, 0, 0x10000, 1, &at), -EINVAL);
    assert_int_equal(at, 0x77);
}

/* The answer by brute force: try every aligned start. */
static int brute_free_area(const bool *used, uintptr_t span, uintptr_t lo, size_t size,
                           uintptr_t hi, size_t align, uintptr_t *out)
{
    for (uintptr_t a = (lo + align - 1) & ~(align - 1); a + size <= hi && a + size <= span;
         a += align) {
        bool ok = true;
        for (uintptr_t b = a; b < a + size && ok; b++)
            ok = !used[b];
        if (ok) {
            *out = a;
            return 0;
        }
    }
    return -ENOMEM;
}

static void find_free_area_agrees_with_brute_force(void **state)
{
    struct fx *f = *state;
    enum { SPAN = 0x4000 };
    static bool used[SPAN];
    uint64_t x = 88172645463325252ull;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)

    for (int round = 0; round < 40; round++) {
        /* A random set of small areas with random gaps; after round 20 the
         * set is dense, with rare big holes, so the gap summaries prune. */
        assert_int_equal(mset_unmap(f->s, 0, SPAN), 0);
        for (uintptr_t a = 0; a < SPAN; a++)
            used[a] = false;
        for (uintptr_t a = RND() % 16; a < SPAN - 64;) {
            uintptr_t len = 1 + RND() % 48;
            MAP(f, a, len, 1);
            for (uintptr_t b = a; b < a + len; b++)
                used[b] = true;
            a += len + (round < 20 ? RND() % 40 : (RND() % 50 == 0 ? 64 + RND() % 200 : RND() % 3));
        }
        assert_consistent(f);
        for (int q = 0; q < 200; q++) {
            size_t align = (size_t)1 << (RND() % 5);
            size_t size = align * (1 + RND() % (64 / align + 1));
            uintptr_t lo = RND() % SPAN, hi = lo + RND() % (SPAN - lo + 1);
            uintptr_t hint = RND() % (hi + 1);
            uintptr_t got = 0, want = 0;
            int rc = mset_find_free_area(f->s, hint, size, lo, hi, align, &got);
            int wrc = brute_free_area(used, SPAN, hint > lo ? hint : lo, size, hi, align, &want);
            if (rc != wrc || (rc == 0 && got != want))
                fprintf(stderr, "round %d: hint %#lx size %#zx limit [%#lx, %#lx) align %#zx: "
                        "got %d %#lx, want %d %#lx\n", round, (unsigned long)hint, size,
                        (unsigned long)lo, (unsigned long)hi, align, rc, (unsigned long)got, wrc,
                        (unsigned long)want);
            assert_int_equal(rc, wrc);
            if (rc == 0)
                assert_int_equal(got, want);
        }
    }
#undef RND
}

static void map_anywhere_maps_the_lowest_fit(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0;

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x200, 0x1000, 0x10000, 0x100, 5,
                                       &mock_backend, NULL, &at), 0);
    assert_int_equal(at, 0x1100);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_MAP, 0x1100, 0x1300);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1300, 5 });
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x10000, 0x1000, 0x10000, 0x100, 5,
                                       &mock_backend, NULL, &at), -ENOMEM);
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x100, 0x1000, 0x10000, 3, 5,
                                       &mock_backend, NULL, &at), -EINVAL);
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x100, 0x1000, 0x10000, 1, 5,
                                       NULL, NULL, &at), -EINVAL);
    mock_fail(f->pt, MOCK_MAP, 0, -EIO);
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x100, 0x1000, 0x10000, 1, 5,
                                       &mock_backend, NULL, &at), -EIO);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1300, 5 });
}

static void find_free_area_with_hint_at_limit_end_finds_nothing(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0x77;

    /* The search range [hint, limit_end) is empty: no fit, but not an error
     * (a hint past limit_end is -EINVAL). */
    assert_int_equal(mset_find_free_area(f->s, 0x2000, 0x100, 0x1000, 0x2000, 1, &at), -ENOMEM);
    assert_int_equal(mset_find_free_area(f->s, 0x2000, 0x100, 0x2000, 0x2000, 1, &at), -ENOMEM);
    assert_int_equal(mset_find_free_area(f->s, 0x2001, 0x100, 0x1000, 0x2000, 1, &at), -EINVAL);
    assert_int_equal(at, 0x77);
}

static void map_anywhere_rejects_bad_arguments_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0x77;

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
#define ANYWHERE(hint, size, lo, hi, align) \
    mset_map_anywhere(f->s, (hint), (size), (lo), (hi), (align), 5, &mock_backend, NULL, &at)
    assert_int_equal(ANYWHERE(0, 0, 0, 0x10000, 1), -EINVAL);            /* size 0 */
    assert_int_equal(ANYWHERE(0, 0x100, 0, 0x10000, 0), -EINVAL);        /* align 0 */
    assert_int_equal(ANYWHERE(0, 0x300, 0, 0x10000, 0x300), -EINVAL);    /* not a power of two */
    assert_int_equal(ANYWHERE(0, 0x180, 0, 0x10000, 0x100), -EINVAL);    /* size % align */
    assert_int_equal(ANYWHERE(0, 0x100, 0x2000, 0x1000, 1), -EINVAL);    /* limit_start > limit_end */
    assert_int_equal(ANYWHERE(0x20000, 0x100, 0, 0x10000, 1), -EINVAL);  /* hint > limit_end */
#undef ANYWHERE
    assert_int_equal(mset_map_anywhere(NULL, 0, 0x100, 0, 0x10000, 1, 5, &mock_backend, NULL, &at),
                     -EINVAL);
    assert_int_equal(mset_map_anywhere(f->s, 0, 0x100, 0, 0x10000, 1, 5, NULL, NULL, &at), -EINVAL);
    assert_int_equal(at, 0x77);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1100, 1 });
}

static void map_anywhere_raises_a_hint_below_the_limit(void **state)
{
    struct fx *f = *state;
    uintptr_t at = 0;

    assert_int_equal(mset_map_anywhere(f->s, 0, 0x100, 0x3000, 0x10000, 0x100, 5, &mock_backend,
                                       NULL, &at), 0);
    assert_int_equal(at, 0x3000);
    assert_areas(f, { 0x3000, 0x3100, 5 });
}

static void map_anywhere_accepts_a_null_out(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    assert_int_equal(mset_map_anywhere(f->s, 0x1000, 0x100, 0, 0x10000, 1, 5, &mock_backend, NULL,
                                       NULL), 0);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1200, 5 });
}

struct racer {
    mset_t *s;
    uintptr_t got[200];
};


static void *race(void *arg)
{
    struct racer *r = arg;

    for (int i = 0; i < 200; i++)
        assert_int_equal(mset_map_anywhere(r->s, 0, 0x10, 0, 0x100000, 0x10, 1, &nop_backend, NULL,
                                           &r->got[i]), 0);
    return NULL;
}

static void map_anywhere_never_hands_out_a_range_twice(void **state)
{
    struct fx *f = *state;
    struct racer r[2] = { { .s = f->s }, { .s = f->s } };
    pthread_t t[2];

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mset_len(f->s), 400);
    /* 400 disjoint 0x10 areas packed from 0: exactly [0, 0x1900). */
    assert_false(mset_find_free_area(f->s, 0, 0x10, 0, 0x1900, 0x10, &r[0].got[0]) == 0);
    assert_int_equal(mset_check(f->s), 0);
    mset_clear(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(find_free_area_takes_the_lowest_fit),
        TEST(find_free_area_starts_at_hint),
        TEST(find_free_area_aligns_the_start),
        TEST(find_free_area_respects_the_limit),
        TEST(find_free_area_rejects_bad_arguments),
        TEST(find_free_area_agrees_with_brute_force),
        TEST(map_anywhere_maps_the_lowest_fit),
        TEST(map_anywhere_never_hands_out_a_range_twice),
        TEST(find_free_area_with_hint_at_limit_end_finds_nothing),
        TEST(map_anywhere_rejects_bad_arguments_and_changes_nothing),
        TEST(map_anywhere_raises_a_hint_below_the_limit),
        TEST(map_anywhere_accepts_a_null_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
