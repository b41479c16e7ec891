/* SPDX-License-Identifier: MIT */
/* mset_clear(), mset_destroy() and the set's allocator. */

#include "failing_alloc.h"
#include "testutil.h"

static void clear_unmaps_every_area_in_order(void **state)
{
    struct fx *f = *state;

    MAP(f, 0x3000, 0x100, 1);
    MAP(f, 0x1000, 0x100, 2);
    assert_int_equal(mset_map(f->s, 0x2000, 0x100, 3, &mock_backend2, NULL, false), 0);
    mock_log_reset(f->pt);
    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(f->pt->nlog, 3);
    assert_call(f, 0, MOCK_UNMAP, 0x1000, 0x1100);
    assert_call(f, 1, MOCK_UNMAP, 0x2000, 0x2100);
    assert_call(f, 2, MOCK_UNMAP, 0x3000, 0x3100);
    assert_int_equal(mset_len(f->s), 0);
    assert_false(mset_find(f->s, 0x1000, NULL));
    assert_consistent(f);
}

static void clear_of_empty_set_calls_nothing(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(f->pt->nlog, 0);
    assert_int_equal(mset_clear(NULL), -EINVAL);
}

static void destroy_does_not_call_backends(void **state)
{
    struct fx *f = *state;
    struct mock_pt *pt = mock_pt_new();
    mset_t *s = mset_new(pt);

    (void)f;
    assert_non_null(s);
    assert_int_equal(mset_map(s, 0x1000, 0x100, 1, &mock_backend, NULL, false), 0);
    mock_log_reset(pt);
    mset_destroy(s);
    assert_int_equal(pt->nlog, 0);
    assert_true(pt->mapped[0x1000]); /* still mapped: the caller's business */
    mset_destroy(NULL);
    mock_pt_free(pt);
}

static void allocator_sees_every_byte_back_after_destroy(void **state)
{
    struct failing_alloc c;
    struct mset_allocator a = failing_alloc_init(&c);
    struct mock_pt *pt = mock_pt_new();
    mset_t *s = mset_new_with_allocator(pt, &a);

    (void)state;
    assert_non_null(s);
    for (uintptr_t x = 0; x < 0x8000; x += 0x100)
        assert_int_equal(mset_map(s, x, 0x80, 1, &mock_backend, NULL, false), 0);
    for (uintptr_t x = 0; x < 0x8000; x += 0x100)
        assert_int_equal(mset_unmap(s, x + 0x20, 0x20), 0); /* splits: nodes retired */
    assert_true(failing_alloc_live(&c) > 0);
    mset_destroy(s);
    /* mset_destroy() waited for the call_rcu thread: it is done freeing. */
    assert_int_equal(failing_alloc_live(&c), 0);
    assert_int_equal(failing_alloc_bytes(&c), 0);
    mock_pt_free(pt);
}

static void allocator_without_callbacks_is_rejected(void **state)
{
    struct failing_alloc c;
    struct mset_allocator bad = failing_alloc_init(&c);

    (void)state;
    bad.alloc = NULL;
    errno = 0;
    assert_null(mset_new_with_allocator(NULL, &bad));
    assert_int_equal(errno, EINVAL);
    bad = failing_alloc_init(&c);
    bad.free = NULL;
    errno = 0;
    assert_null(mset_new_with_allocator(NULL, &bad));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(c.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(clear_unmaps_every_area_in_order),
        TEST(clear_of_empty_set_calls_nothing),
        TEST(destroy_does_not_call_backends),
        TEST(allocator_sees_every_byte_back_after_destroy),
        TEST(allocator_without_callbacks_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
