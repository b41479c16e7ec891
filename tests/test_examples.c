/* SPDX-License-Identifier: MIT */
/*
 * The worked examples of the reference design (a Rust MemorySet), step by
 * step, with the page table checked byte by byte after every step.
 */
#include "testutil.h"

#define SPAN 0x10000u

static void map_gaps_replace_and_unmap(void **state)
{
    struct fx *f = *state;

    /* Eight 0x1000 areas at stride 0x2000 with flags 1, the gaps with 2. */
    for (uintptr_t a = 0; a < SPAN; a += 0x2000)
        MAP(f, a, 0x1000, 1);
    for (uintptr_t a = 0x1000; a < SPAN; a += 0x2000)
        MAP(f, a, 0x1000, 2);
    assert_int_equal(mset_len(f->s), 16);
    assert_consistent(f);

    struct mset_area a;
    assert_true(mset_find(f->s, 0x4100, &a));
    assert_int_equal(a.start, 0x4000);
    assert_int_equal(a.flags, 1);
    assert_true(mset_find(f->s, 0x5100, &a));
    assert_int_equal(a.flags, 2);

    /* [0x4000, 0x8000) is taken. */
    assert_int_equal(mset_map(f->s, 0x4000, 0x4000, 3, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_len(f->s), 16);
    /* With unmap_overlap the four areas inside go and one comes. */
    assert_int_equal(mset_map(f->s, 0x4000, 0x4000, 3, &mock_backend, NULL, true), 0);
    assert_int_equal(mset_len(f->s), 13);
    assert_true(mock_range_is(f->pt, 0x4000, 0x8000, true, 3));
    assert_areas(f, { 0x0000, 0x1000, 1 }, { 0x1000, 0x2000, 2 }, { 0x2000, 0x3000, 1 },
                 { 0x3000, 0x4000, 2 }, { 0x4000, 0x8000, 3 }, { 0x8000, 0x9000, 1 },
                 { 0x9000, 0xa000, 2 }, { 0xa000, 0xb000, 1 }, { 0xb000, 0xc000, 2 },
                 { 0xc000, 0xd000, 1 }, { 0xd000, 0xe000, 2 }, { 0xe000, 0xf000, 1 },
                 { 0xf000, 0x10000, 2 });

    /* Shrink the first area, remove three, shrink the big one from the left. */
    assert_int_equal(mset_unmap(f->s, 0x0800, 0x4000), 0);
    assert_areas(f, { 0x0000, 0x0800, 1 }, { 0x4800, 0x8000, 3 }, { 0x8000, 0x9000, 1 },
                 { 0x9000, 0xa000, 2 }, { 0xa000, 0xb000, 1 }, { 0xb000, 0xc000, 2 },
                 { 0xc000, 0xd000, 1 }, { 0xd000, 0xe000, 2 }, { 0xe000, 0xf000, 1 },
                 { 0xf000, 0x10000, 2 });

    /* Shrink two neighbours from the inside. */
    assert_int_equal(mset_unmap(f->s, 0xa800, 0x1000), 0);
    assert_areas(f, { 0x0000, 0x0800, 1 }, { 0x4800, 0x8000, 3 }, { 0x8000, 0x9000, 1 },
                 { 0x9000, 0xa000, 2 }, { 0xa000, 0xa800, 1 }, { 0xb800, 0xc000, 2 },
                 { 0xc000, 0xd000, 1 }, { 0xd000, 0xe000, 2 }, { 0xe000, 0xf000, 1 },
                 { 0xf000, 0x10000, 2 });

    /* Split the big one. */
    assert_int_equal(mset_unmap(f->s, 0x5000, 0x800), 0);
    assert_areas(f, { 0x0000, 0x0800, 1 }, { 0x4800, 0x5000, 3 }, { 0x5800, 0x8000, 3 },
                 { 0x8000, 0x9000, 1 }, { 0x9000, 0xa000, 2 }, { 0xa000, 0xa800, 1 },
                 { 0xb800, 0xc000, 2 }, { 0xc000, 0xd000, 1 }, { 0xd000, 0xe000, 2 },
                 { 0xe000, 0xf000, 1 }, { 0xf000, 0x10000, 2 });

    assert_int_equal(mset_unmap(f->s, 0xf000, 0x1000), 0);
    assert_int_equal(mset_len(f->s), 10);
    assert_int_equal(mset_unmap(f->s, 0, SPAN), 0);
    assert_int_equal(mset_len(f->s), 0);
    assert_consistent(f);
}

static bool to_1(unsigned old, unsigned *nf, void *arg)
{
    (void)old, (void)arg;
    *nf = 1;
    return true;
}

static bool seven_to_2(unsigned old, unsigned *nf, void *arg)
{
    (void)arg;
    if (old != 7)
        return false;
    *nf = 2;
    return true;
}

static void expect_list(struct fx *f, const struct xa *xs, size_t n)
{
    assert_areas_(f, xs, n, __FILE__, __LINE__);
}

static void protect_in_two_passes(void **state)
{
    struct fx *f = *state;
    struct xa want[64];
    size_t n = 0;

    for (uintptr_t a = 0; a < SPAN; a += 0x2000)
        MAP(f, a, 0x1000, 7);
    assert_int_equal(mset_len(f->s), 8);

    /* 0x1800 at offset 0xc00 of each stride: the tail of one area and the
     * head of the next change, so every area but the first splits in three. */
    for (uintptr_t b = 0; b < SPAN; b += 0x2000) {
        mock_log_reset(f->pt);
        assert_int_equal(mset_protect(f->s, b + 0xc00, 0x1800, to_1, NULL), 0);
        assert_int_equal(f->pt->nlog, b + 0x2000 < SPAN ? 2 : 1);
        assert_call(f, 0, MOCK_PROTECT, b + 0xc00, b + 0x1000);
        if (b + 0x2000 < SPAN)
            assert_call(f, 1, MOCK_PROTECT, b + 0x2000, b + 0x2400);
        assert_consistent(f);
    }
    for (uintptr_t b = 0; b < SPAN; b += 0x2000) {
        if (b)
            want[n++] = (struct xa){ b, b + 0x400, 1 };
        want[n++] = (struct xa){ b ? b + 0x400 : 0, b + 0xc00, 7 };
        want[n++] = (struct xa){ b + 0xc00, b + 0x1000, 1 };
    }
    assert_int_equal(n, 23);
    expect_list(f, want, n);

    /* 0x100 at offset 0x800: the middle pieces (still 7) split again. */
    for (uintptr_t b = 0; b < SPAN; b += 0x2000) {
        mock_log_reset(f->pt);
        assert_int_equal(mset_protect(f->s, b + 0x800, 0x100, seven_to_2, NULL), 0);
        assert_int_equal(f->pt->nlog, 1);
        assert_call(f, 0, MOCK_PROTECT, b + 0x800, b + 0x900);
    }
    n = 0;
    for (uintptr_t b = 0; b < SPAN; b += 0x2000) {
        if (b)
            want[n++] = (struct xa){ b, b + 0x400, 1 };
        want[n++] = (struct xa){ b ? b + 0x400 : 0, b + 0x800, 7 };
        want[n++] = (struct xa){ b + 0x800, b + 0x900, 2 };
        want[n++] = (struct xa){ b + 0x900, b + 0xc00, 7 };
        want[n++] = (struct xa){ b + 0xc00, b + 0x1000, 1 };
    }
    assert_int_equal(n, 39);
    expect_list(f, want, n);

    /* Protecting everything to 1 touches each area once and merges nothing. */
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0, SPAN, to_1, NULL), 0);
    assert_int_equal(mset_len(f->s), 39);
    assert_int_equal(f->pt->nlog, 8 * 3); /* the pieces that were 7 or 2 */
    assert_consistent(f);

    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(mset_len(f->s), 0);
    assert_consistent(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(map_gaps_replace_and_unmap),
        TEST(protect_in_two_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
