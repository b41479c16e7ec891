/* SPDX-License-Identifier: MIT */
/* mset_map(): adding areas, with and without unmap_overlap. */
#include "testutil.h"

static void map_into_empty_set_calls_backend_once(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_map(f->s, 0x1100, 0x100, 3, &mock_backend, NULL, false), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_MAP, 0x1100, 0x1200);
    assert_int_equal(f->pt->log[0].flags, 3);
    assert_areas(f, { 0x1100, 0x1200, 3 });
}

static void map_keeps_areas_sorted_whatever_the_order(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x3000, 0x100, 1);
    MAP(f, 0x1000, 0x100, 2);
    MAP(f, 0x2000, 0x100, 3);
    MAP(f, 0x1100, 0x100, 4); /* adjacent areas are not merged */
    assert_areas(f, { 0x1000, 0x1100, 2 }, { 0x1100, 0x1200, 4 }, { 0x2000, 0x2100, 3 },
                 { 0x3000, 0x3100, 1 });
}

static void map_rejects_empty_and_wrapping_ranges(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_map(f->s, 0x1000, 0, 1, &mock_backend, NULL, false), -EINVAL);
    assert_int_equal(mset_map(f->s, UINTPTR_MAX - 0xfff, 0x2000, 1, &mock_backend, NULL, true),
                     -EINVAL);
    /* Ending exactly at 2^64 wraps to 0: rejected too. */
    assert_int_equal(mset_map(f->s, UINTPTR_MAX - 0xfff, 0x1000, 1, &mock_backend, NULL, false),
                     -EINVAL);
    assert_int_equal(f->pt->nlog, 0);
    assert_int_equal(mset_len(f->s), 0);
}

static void map_rejects_null_set_and_backend(void **state)
{
    struct fx *f = *state;
    struct mset_backend half = { mock_backend.map, NULL, mock_backend.protect };

    assert_int_equal(mset_map(NULL, 0x1000, 0x100, 1, &mock_backend, NULL, false), -EINVAL);
    assert_int_equal(mset_map(f->s, 0x1000, 0x100, 1, NULL, NULL, false), -EINVAL);
    assert_int_equal(mset_map(f->s, 0x1000, 0x100, 1, &half, NULL, false), -EINVAL);
    assert_int_equal(mset_len(f->s), 0);
    assert_int_equal(f->pt->nlog, 0);
}

static void map_overlapping_without_unmap_overlap_is_eexist_and_changes_nothing(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x1000, 1);
    mock_log_reset(f->pt);
    /* Inside, across the left edge, across the right edge, covering, equal. */
    assert_int_equal(mset_map(f->s, 0x1400, 0x100, 2, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_map(f->s, 0x0f00, 0x200, 2, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_map(f->s, 0x1f00, 0x200, 2, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_map(f->s, 0x0800, 0x2000, 2, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_map(f->s, 0x1000, 0x1000, 2, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(f->pt->nlog, 0);
    assert_areas(f, { 0x1000, 0x2000, 1 });
}

static void map_touching_neighbours_is_not_an_overlap(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1200, 0x100, 1);
    MAP(f, 0x1100, 0x100, 2); /* [0x1100, 0x1200) fills the hole exactly */
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x1100, 0x1200, 2 }, { 0x1200, 0x1300, 1 });
}

static void map_with_unmap_overlap_replaces_an_equal_area(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_map(f->s, 0x1000, 0x100, 2, &mock_backend, NULL, true), 0);
    assert_call(f, 0, MOCK_UNMAP, 0x1000, 0x1100);
    assert_call(f, 1, MOCK_MAP, 0x1000, 0x1100);
    assert_int_equal(f->pt->nlog, 2);
    assert_areas(f, { 0x1000, 0x1100, 2 });
}

static void map_with_unmap_overlap_removes_shrinks_and_splits(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x300, 1); /* crosses the left edge: shrunk */
    MAP(f, 0x1400, 0x100, 2); /* inside: removed */
    MAP(f, 0x1600, 0x300, 3); /* crosses the right edge: shrunk */
    mock_log_reset(f->pt);
    assert_int_equal(mset_map(f->s, 0x1200, 0x600, 9, &mock_backend, NULL, true), 0);
    assert_call(f, 0, MOCK_UNMAP, 0x1200, 0x1300);
    assert_call(f, 1, MOCK_UNMAP, 0x1400, 0x1500);
    assert_call(f, 2, MOCK_UNMAP, 0x1600, 0x1800);
    assert_call(f, 3, MOCK_MAP, 0x1200, 0x1800);
    assert_int_equal(f->pt->nlog, 4);
    assert_areas(f, { 0x1000, 0x1200, 1 }, { 0x1200, 0x1800, 9 }, { 0x1800, 0x1900, 3 });

    /* An area containing the new one is split around it. */
    mock_log_reset(f->pt);
    assert_int_equal(mset_map(f->s, 0x1300, 0x100, 7, &mock_backend, NULL, true), 0);
    assert_call(f, 0, MOCK_UNMAP, 0x1300, 0x1400);
    assert_call(f, 1, MOCK_MAP, 0x1300, 0x1400);
    assert_areas(f, { 0x1000, 0x1200, 1 }, { 0x1200, 0x1300, 9 }, { 0x1300, 0x1400, 7 },
                 { 0x1400, 0x1800, 9 }, { 0x1800, 0x1900, 3 });
}

static void map_with_unmap_overlap_into_free_space_just_maps(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x1000, 0x100, 1);
    mock_log_reset(f->pt);
    assert_int_equal(mset_map(f->s, 0x2000, 0x100, 2, &mock_backend, NULL, true), 0);
    assert_int_equal(f->pt->nlog, 1);
    assert_call(f, 0, MOCK_MAP, 0x2000, 0x2100);
    assert_areas(f, { 0x1000, 0x1100, 1 }, { 0x2000, 0x2100, 2 });
}

static void map_at_address_zero(void **state)
{
    struct fx *f = *state;
    struct mset_area a;

    /* Address 0 is an ordinary address, not a sentinel. */
    MAP(f, 0, 0x100, 1);
    assert_true(mset_find(f->s, 0, &a));
    assert_int_equal(a.start, 0);
    assert_true(mset_overlaps(f->s, 0, 1));
    assert_areas(f, { 0, 0x100, 1 });
    assert_int_equal(mset_unmap(f->s, 0, 0x80), 0);
    assert_areas(f, { 0x80, 0x100, 1 });
}


static void map_up_to_the_last_byte_below_2_pow_64(void **state)
{
    struct fx *f = *state;
    struct mset_area a;

    assert_int_equal(mset_map(f->s, UINTPTR_MAX - 0x1000, 0x1000, 5, &nop_backend, NULL, false), 0);
    assert_true(mset_find(f->s, UINTPTR_MAX - 1, &a));
    assert_int_equal(a.end, UINTPTR_MAX);
    assert_false(mset_find(f->s, UINTPTR_MAX, NULL));
    assert_int_equal(mset_check(f->s), 0);
    assert_int_equal(mset_unmap(f->s, UINTPTR_MAX - 0x800, 0x800), 0);
    assert_true(mset_find(f->s, UINTPTR_MAX - 0x801, &a));
    assert_int_equal(a.end, UINTPTR_MAX - 0x800);
    assert_int_equal(mset_check(f->s), 0);
}

static void map_stores_backend_and_udata(void **state)
{
    struct fx *f = *state;
    struct mset_area a;
    int tag;

    assert_int_equal(mset_map(f->s, 0x1000, 0x100, 1, &mock_backend2, &tag, false), 0);
    assert_true(mset_find(f->s, 0x1000, &a));
    assert_ptr_equal(a.backend, &mock_backend2);
    assert_ptr_equal(a.udata, &tag);
}

static void many_areas_stay_consistent(void **state)
{
    struct fx *f = *state;

    /* Enough nodes for several skip-list levels, inserted in a scrambled order. */
    for (unsigned i = 0; i < 2000; i++) {
        uintptr_t slot = (i * 7919u) % 2000u;
        MAP(f, slot * 0x20, 0x10, slot & 7);
    }
    assert_int_equal(mset_len(f->s), 2000);
    assert_consistent(f);
    for (unsigned i = 0; i < 2000; i += 2)
        assert_int_equal(mset_unmap(f->s, i * 0x20, 0x10), 0);
    assert_int_equal(mset_len(f->s), 1000);
    assert_consistent(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(map_into_empty_set_calls_backend_once),
        TEST(map_keeps_areas_sorted_whatever_the_order),
        TEST(map_rejects_empty_and_wrapping_ranges),
        TEST(map_rejects_null_set_and_backend),
        TEST(map_overlapping_without_unmap_overlap_is_eexist_and_changes_nothing),
        TEST(map_touching_neighbours_is_not_an_overlap),
        TEST(map_with_unmap_overlap_replaces_an_equal_area),
        TEST(map_with_unmap_overlap_removes_shrinks_and_splits),
        TEST(map_with_unmap_overlap_into_free_space_just_maps),
        TEST(map_at_address_zero),
        TEST(map_up_to_the_last_byte_below_2_pow_64),
        TEST(map_stores_backend_and_udata),
        TEST(many_areas_stay_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
