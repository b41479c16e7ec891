/* SPDX-License-Identifier: MIT */
/* mset_clear(), mset_destroy() and the set's allocator. */
#include <string.h>

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

/* A counting allocator that can fail. */
struct counting {
    long live, bytes, calls;
    long fail_at; /* fail the allocation with this index (-1: never) */
};

static void *count_alloc(void *ctx, size_t size)
{
    struct counting *c = ctx;

    if (c->calls++ == c->fail_at)
        return NULL;
    void *p = malloc(size);
    if (p) {
        __atomic_add_fetch(&c->live, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->bytes, (long)size, __ATOMIC_RELAXED);
    }
    return p;
}

static void count_free(void *ctx, void *p, size_t size)
{
    struct counting *c = ctx;

    __atomic_sub_fetch(&c->live, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&c->bytes, (long)size, __ATOMIC_RELAXED);
    free(p);
}

static void allocator_sees_every_byte_back_after_destroy(void **state)
{
    struct counting c = { .fail_at = -1 };
    struct mset_allocator a = { count_alloc, count_free, &c };
    struct mock_pt *pt = mock_pt_new();
    mset_t *s = mset_new_with_allocator(pt, &a);

    (void)state;
    assert_non_null(s);
    for (uintptr_t x = 0; x < 0x8000; x += 0x100)
        assert_int_equal(mset_map(s, x, 0x80, 1, &mock_backend, NULL, false), 0);
    for (uintptr_t x = 0; x < 0x8000; x += 0x100)
        assert_int_equal(mset_unmap(s, x + 0x20, 0x20), 0); /* splits: nodes retired */
    assert_true(__atomic_load_n(&c.live, __ATOMIC_RELAXED) > 0);
    mset_destroy(s);
    /* mset_destroy() waited for the call_rcu thread: it is done freeing. */
    assert_int_equal(__atomic_load_n(&c.live, __ATOMIC_RELAXED), 0);
    assert_int_equal(__atomic_load_n(&c.bytes, __ATOMIC_RELAXED), 0);
    mock_pt_free(pt);
}

static void creation_fails_cleanly_without_memory(void **state)
{
    (void)state;
    for (long k = 0; k < 2; k++) {
        struct counting c = { .fail_at = k };
        struct mset_allocator a = { count_alloc, count_free, &c };
        errno = 0;
        assert_null(mset_new_with_allocator(NULL, &a));
        assert_int_equal(errno, ENOMEM);
        assert_int_equal(c.live, 0);
    }
    struct mset_allocator bad = { NULL, count_free, NULL };
    assert_null(mset_new_with_allocator(NULL, &bad));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(clear_unmaps_every_area_in_order),
        TEST(clear_of_empty_set_calls_nothing),
        TEST(destroy_does_not_call_backends),
        TEST(allocator_sees_every_byte_back_after_destroy),
        TEST(creation_fails_cleanly_without_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
