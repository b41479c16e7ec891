/* SPDX-License-Identifier: MIT */
/* mset_protect(): changing flags through an update callback, with splits. */
#include "testutil.h"

static bool set_to(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static bool leave_alone(unsigned old, unsigned *nf, void *arg)
{
    (void)old, (void)nf, (void)arg;
    return false;
}

static bool keep_same(unsigned old, unsigned *nf, void *arg)
{
    (void)arg;
    *nf = old;
    return true;
}

/* Only areas whose flags are odd change (to flags + 1). */
static bool bump_odd(unsigned old, unsigned *nf, void *arg)
{
    (void)arg;
    if (!(old & 1))
        return false;
    *nf = old + 1;
    return true;
}

struct seen {
    unsigned old[16];
    int n;
};

static bool record_old(unsigned old, unsigned *nf, void *arg)
{
    struct seen *s = arg;

    assert_int_equal(*nf, old); /* new_flags starts as the old flags */
    s->old[s->n++] = old;
    return false;
}

static unsigned seven = 7;

static void protect_whole_area_changes_flags_without_split(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x200, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1000, 0x200, set_to, &seven), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_PROTECT, 0x1000, 0x1200);
    assert_int_equal(f->pt->log[0].flags, 7);
    assert_areas(f, { 0x1000, 0x1200, 7 });
}

static void protect_left_part_splits_in_two(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x0f00, 0x200, set_to, &seven), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_PROTECT, 0x1000, 0x1100);
    assert_areas(f, { 0x1000, 0x1100, 7 }, { 0x1100, 0x1400, 1 });
}

static void protect_right_part_splits_in_two(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1300, 0x500, set_to, &seven), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_PROTECT, 0x1300, 0x1400);
    assert_areas(f, { 0x1000, 0x1300, 1 }, { 0x1300, 0x1400, 7 });
}

static void protect_middle_splits_in_three(void **state)
{
    struct fx *f = *state;
    int tag;
    struct mset_area a;

    assert_int_equal(mset_map(f->s, 0x1000, 0x400, 1, &mock_backend2, &tag, false), 0);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, set_to, &seven), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_PROTECT, 0x1100, 0x1200);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1200, 7 }, { 0x1200, 0x1400, 1 });
    for (uintptr_t addr = 0x1000; addr < 0x1400; addr += 0x100) {
        assert_true(mset_find(f->s, addr, &a));
        assert_ptr_equal(a.backend, &mock_backend2);
        assert_ptr_equal(a.udata, &tag);
    }
}

static void protect_across_several_areas_and_gaps(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x200, 1);
    MAP(f, 0x1400, 0x100, 2);
    MAP(f, 0x1600, 0x200, 3);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x600, set_to, &seven), 0);
    assert_int_equal(f->pt->nlog, 3);
    assert_call(f, 0, MOCK_PROTECT, 0x1100, 0x1200);
    assert_call(f, 1, MOCK_PROTECT, 0x1400, 0x1500);
    assert_call(f, 2, MOCK_PROTECT, 0x1600, 0x1700);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1200, 7 }, { 0x1400, 0x1500, 7 },
                 { 0x1600, 0x1700, 7 }, { 0x1700, 0x1800, 3 });
}

static void protect_update_false_leaves_area_alone(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, leave_alone, NULL), 0);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1400, 1 });
}

static void protect_to_the_same_flags_leaves_area_alone(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, keep_same, NULL), 0);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1400, 1 });
}

static void protect_decides_per_area(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1100, 0x100, 2);
    MAP(f, 0x1200, 0x100, 3);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1080, 0x200, bump_odd, NULL), 0);
    assert_int_equal(f->pt->nlog, 2);
    assert_call(f, 0, MOCK_PROTECT, 0x1080, 0x1100);
    assert_call(f, 1, MOCK_PROTECT, 0x1200, 0x1280);
    assert_areas(f, { 0x1000, 0x1080, 1 }, { 0x1080, 0x1100, 2 }, { 0x1100, 0x1200, 2 },
                 { 0x1200, 0x1280, 4 }, { 0x1280, 0x1300, 3 });
}

static void protect_calls_update_once_per_touched_area_in_order(void **state)
{
    struct fx *f = *state;
    struct seen seen = { .n = 0 };

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    MAP(f, 0x1400, 0x100, 3);
    MAP(f, 0x1600, 0x100, 4);
    assert_int_equal(mset_protect(f->s, 0x10ff, 0x302, record_old, &seen), 0);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.old[0], 1);
    assert_int_equal(seen.old[1], 2);
    assert_int_equal(seen.old[2], 3);
}

static void protect_splits_are_not_merged_back(void **state)
{
    struct fx *f = *state;
    unsigned one = 1;

    MAP(f, 0x1000, 0x300, 1);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, set_to, &seven), 0);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, set_to, &one), 0);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1200, 1 }, { 0x1200, 0x1300, 1 });
}

static void protect_of_free_range_calls_nothing(void **state)
{
    struct fx *f = *state;
    struct seen seen = { .n = 0 };

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x2000, 0x100, record_old, &seen), 0);
    assert_int_equal(seen.n, 0);
    assert_int_equal(f->pt->nlog, 0);
}

static void protect_rejects_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct seen seen = { .n = 0 };

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1000, 0, record_old, &seen), -EINVAL);
    assert_int_equal(mset_protect(f->s, UINTPTR_MAX - 0xfff, 0x2000, record_old, &seen), -EINVAL);
    assert_int_equal(mset_protect(f->s, 0x1000, 0x100, NULL, NULL), -EINVAL);
    assert_int_equal(mset_protect(NULL, 0x1000, 0x100, record_old, &seen), -EINVAL);
    assert_int_equal(seen.n, 0);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1100, 1 });
}

static void protect_over_many_areas(void **state)
{
    struct fx *f = *state;

    /* More areas than the on-stack plan holds. */
    for (uintptr_t a = 0; a < 100; a++)
        MAP(f, 0x1000 + a * 0x100, 0x80, 1);
    assert_int_equal(mset_protect(f->s, 0x1040, 99 * 0x100, set_to, &seven), 0);
    assert_int_equal(mset_len(f->s), 102);
    assert_consistent(f);
    assert_true(mock_range_is(f->pt, 0x1000, 0x1040, true, 1));
    assert_true(mock_range_is(f->pt, 0x1040, 0x1080, true, 7));
    assert_true(mock_range_is(f->pt, 0x1000 + 99 * 0x100, 0x1000 + 99 * 0x100 + 0x40, true, 7));
    assert_true(mock_range_is(f->pt, 0x1000 + 99 * 0x100 + 0x40, 0x1000 + 99 * 0x100 + 0x80, true, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(protect_whole_area_changes_flags_without_split),
        TEST(protect_left_part_splits_in_two),
        TEST(protect_right_part_splits_in_two),
        TEST(protect_middle_splits_in_three),
        TEST(protect_across_several_areas_and_gaps),
        TEST(protect_update_false_leaves_area_alone),
        TEST(protect_to_the_same_flags_leaves_area_alone),
        TEST(protect_decides_per_area),
        TEST(protect_calls_update_once_per_touched_area_in_order),
        TEST(protect_splits_are_not_merged_back),
        TEST(protect_of_free_range_calls_nothing),
        TEST(protect_rejects_bad_arguments),
        TEST(protect_over_many_areas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
