/* SPDX-License-Identifier: MIT */
/* mset_unmap(): removing, shrinking and splitting areas. */
#include "testutil.h"

static void unmap_whole_area_removes_it(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x2000, 0x100, 2);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1000, 0x100), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_UNMAP, 0x1000, 0x1100);
    assert_areas(f, { 0x2000, 0x2100, 2 });
}

static void unmap_across_left_edge_shrinks_area(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x0f00, 0x200), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_UNMAP, 0x1000, 0x1100);
    assert_areas(f, { 0x1100, 0x1400, 1 });
}

static void unmap_across_right_edge_shrinks_area(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1300, 0x300), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_UNMAP, 0x1300, 0x1400);
    assert_areas(f, { 0x1000, 0x1300, 1 });
}

static void unmap_inside_an_area_splits_it(void **state)
{
    struct fx *f = *state;
    struct mset_area l, r;
    int tag;

    assert_int_equal(mset_map(f->s, 0x1000, 0x400, 5, &mock_backend2, &tag, false), 0);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1100, 0x100), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_UNMAP, 0x1100, 0x1200);
    assert_areas(f, { 0x1000, 0x1100, 5 }, { 0x1200, 0x1400, 5 });
    /* Both halves keep the area's backend and user pointer. */
    assert_true(mset_find(f->s, 0x10ff, &l));
    assert_true(mset_find(f->s, 0x1200, &r));
    assert_ptr_equal(l.backend, &mock_backend2);
    assert_ptr_equal(r.backend, &mock_backend2);
    assert_ptr_equal(l.udata, &tag);
    assert_ptr_equal(r.udata, &tag);
}

static void unmap_spanning_several_areas_calls_backend_per_area(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x200, 1);
    MAP(f, 0x1300, 0x100, 2);
    MAP(f, 0x1500, 0x100, 3);
    MAP(f, 0x1700, 0x200, 4);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1100, 0x700), 0);
    assert_int_equal(f->pt->nlog, 4);
    assert_call(f, 0, MOCK_UNMAP, 0x1100, 0x1200);
    assert_call(f, 1, MOCK_UNMAP, 0x1300, 0x1400);
    assert_call(f, 2, MOCK_UNMAP, 0x1500, 0x1600);
    assert_call(f, 3, MOCK_UNMAP, 0x1700, 0x1800);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1800, 0x1900, 4 });
}

static void unmap_of_free_range_succeeds_and_calls_nothing(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_unmap(f->s, 0x1000, 0x100), 0); /* empty set */
    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1100, 0x100), 0); /* the hole between */
    assert_int_equal(mset_unmap(f->s, 0x5000, 0x100), 0); /* above everything */
    assert_int_equal(mset_unmap(f->s, 0x0, 0x1000), 0);    /* below everything */
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1200, 0x1300, 1 });
}

static void unmap_rejects_empty_and_wrapping_ranges(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_unmap(f->s, 0x1000, 0), -EINVAL);
    assert_int_equal(mset_unmap(f->s, UINTPTR_MAX - 0xfff, 0x2000), -EINVAL);
    assert_int_equal(mset_unmap(NULL, 0x1000, 0x100), -EINVAL);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x1100, 1 });
}

static void unmap_everything_leaves_an_empty_set(void **state)
{
    struct fx *f = *state;

    for (uintptr_t a = 0; a < 0x4000; a += 0x200)
        MAP(f, a, 0x100, 1);
    assert_int_equal(mset_unmap(f->s, 0, 0x4000), 0);
    assert_int_equal(mset_len(f->s), 0);
    assert_consistent(f);
    MAP(f, 0x100, 0x100, 2); /* and the set is usable again */
    assert_areas(f, { 0x100, 0x200, 2 });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(unmap_whole_area_removes_it),
        TEST(unmap_across_left_edge_shrinks_area),
        TEST(unmap_across_right_edge_shrinks_area),
        TEST(unmap_inside_an_area_splits_it),
        TEST(unmap_spanning_several_areas_calls_backend_per_area),
        TEST(unmap_of_free_range_succeeds_and_calls_nothing),
        TEST(unmap_rejects_empty_and_wrapping_ranges),
        TEST(unmap_everything_leaves_an_empty_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
