/* SPDX-License-Identifier: MIT */
/*
 * When a backend call fails, the writer returns its error and the set still
 * describes exactly what the backend has (assert_areas compares the set and
 * the mock page table byte by byte).
 */
#include "testutil.h"

static bool set_to(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static unsigned nine = 9;

static void failed_map_changes_nothing(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    mock_fail(f->pt, MOCK_MAP, 0, -EIO);
    assert_int_equal(mset_map(f->s, 0x2000, 0x100, 2, &mock_backend, NULL, false), -EIO);
    assert_areas(f, { 0x1000, 0x1100, 1 });
}

static void failed_map_after_unmapping_overlaps_keeps_them_unmapped(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    MAP(f, 0x1600, 0x100, 2);
    mock_fail(f->pt, MOCK_MAP, 0, -EIO);
    assert_int_equal(mset_map(f->s, 0x1200, 0x600, 3, &mock_backend, NULL, true), -EIO);
    /* Both overlapped parts were unmapped before the map failed. */
    assert_areas(f, { 0x1000, 0x1200, 1 });
}

static void failed_map_inside_an_area_keeps_both_remainders(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_fail(f->pt, MOCK_MAP, 0, -EIO);
    assert_int_equal(mset_map(f->s, 0x1100, 0x100, 3, &mock_backend, NULL, true), -EIO);
    /* The middle was unmapped, so the area is now split around a hole. */
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1200, 0x1400, 1 });
}

static void backend_enomem_has_the_backend_failure_outcome(void **state)
{
    struct fx *f = *state;

    /* A backend's own -ENOMEM (mmap's) is passed through unchanged: unlike
     * the library's -ENOMEM, the overlapped part was already unmapped. */
    MAP(f, 0x1000, 0x400, 1);
    mock_fail(f->pt, MOCK_MAP, 0, -ENOMEM);
    assert_int_equal(mset_map(f->s, 0x1200, 0x400, 3, &mock_backend, NULL, true), -ENOMEM);
    assert_areas(f, { 0x1000, 0x1200, 1 });
}

static void failed_unmap_of_an_overlap_stops_there(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    MAP(f, 0x1400, 0x100, 3);
    mock_fail(f->pt, MOCK_UNMAP, 1, -EBUSY); /* the second unmap fails */
    assert_int_equal(mset_map(f->s, 0x1080, 0x500, 4, &mock_backend, NULL, true), -EBUSY);
    assert_areas(f, { 0x1000, 0x1080, 1 }, { 0x1200, 0x1300, 2 }, { 0x1400, 0x1500, 3 });
}

static void failed_unmap_keeps_the_failing_area_and_the_rest(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    MAP(f, 0x1400, 0x200, 3);
    mock_fail(f->pt, MOCK_UNMAP, 1, -EPERM);
    assert_int_equal(mset_unmap(f->s, 0x1000, 0x500), -EPERM);
    assert_areas(f, { 0x1200, 0x1300, 2 }, { 0x1400, 0x1600, 3 });

    mock_fail(f->pt, MOCK_UNMAP, 0, -EPERM); /* a split whose unmap fails */
    assert_int_equal(mset_unmap(f->s, 0x1480, 0x80), -EPERM);
    assert_areas(f, { 0x1200, 0x1300, 2 }, { 0x1400, 0x1600, 3 });
}

static void failed_protect_is_reverted(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    MAP(f, 0x1400, 0x100, 3);
    mock_fail(f->pt, MOCK_PROTECT, 2, -EACCES); /* the third protect fails */
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1080, 0x400, set_to, &nine), -EACCES);
    /* Two applied, the third failed and was put back, the two reverted last
     * first. */
    assert_int_equal(f->pt->nlog, 6);
    assert_call(f, 2, MOCK_PROTECT, 0x1400, 0x1480);
    assert_call(f, 3, MOCK_PROTECT, 0x1400, 0x1480);
    assert_int_equal(f->pt->log[3].flags, 3);
    assert_call(f, 4, MOCK_PROTECT, 0x1200, 0x1300);
    assert_int_equal(f->pt->log[4].flags, 2);
    assert_call(f, 5, MOCK_PROTECT, 0x1080, 0x1100);
    assert_int_equal(f->pt->log[5].flags, 1);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1200, 0x1300, 2 }, { 0x1400, 0x1500, 3 });
}

static void protect_that_fails_part_way_is_put_back(void **state)
{
    struct fx *f = *state;

    /* Like mprotect() hitting vm.max_map_count: the backend changes the first
     * half of its range, then fails.  The set must still match it. */
    MAP(f, 0x1000, 0x400, 1);
    mock_fail(f->pt, MOCK_PROTECT, 0, -ENOMEM);
    f->pt->fail_partial = true;
    assert_int_equal(mset_protect(f->s, 0x1100, 0x200, set_to, &nine), -ENOMEM);
    assert_areas(f, { 0x1000, 0x1400, 1 });
}

static void failed_first_protect_of_a_split_changes_nothing(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x400, 1);
    mock_fail(f->pt, MOCK_PROTECT, 0, -EACCES);
    mock_log_reset(f->pt);
    assert_int_equal(mset_protect(f->s, 0x1100, 0x100, set_to, &nine), -EACCES);
    assert_int_equal(f->pt->nlog, 2); /* the failed call, then its range put back */
    assert_call(f, 1, MOCK_PROTECT, 0x1100, 0x1200);
    assert_int_equal(f->pt->log[1].flags, 1);
    assert_areas(f, { 0x1000, 0x1400, 1 });
}

static void failed_revert_records_what_stayed_changed(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    /* Every protect after the first fails: the second fails, so does the
     * revert of the first. */
    mock_fail(f->pt, MOCK_PROTECT, 1, -EIO);
    f->pt->fail_sticky = true;
    assert_int_equal(mset_protect(f->s, 0x1080, 0x200, set_to, &nine), -EIO);
    assert_areas(f, { 0x1000, 0x1080, 1 }, { 0x1080, 0x1100, 9 }, { 0x1200, 0x1300, 2 });
}

static void failed_clear_keeps_the_rest(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 2);
    MAP(f, 0x1400, 0x100, 3);
    mock_fail(f->pt, MOCK_UNMAP, 2, -EIO);
    assert_int_equal(mset_clear(f->s), -EIO);
    assert_areas(f, { 0x1400, 0x1500, 3 });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(failed_map_changes_nothing),
        TEST(failed_map_after_unmapping_overlaps_keeps_them_unmapped),
        TEST(failed_map_inside_an_area_keeps_both_remainders),
        TEST(backend_enomem_has_the_backend_failure_outcome),
        TEST(failed_unmap_of_an_overlap_stops_there),
        TEST(failed_unmap_keeps_the_failing_area_and_the_rest),
        TEST(failed_protect_is_reverted),
        TEST(protect_that_fails_part_way_is_put_back),
        TEST(failed_first_protect_of_a_split_changes_nothing),
        TEST(failed_revert_records_what_stayed_changed),
        TEST(failed_clear_keeps_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
