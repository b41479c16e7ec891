/* SPDX-License-Identifier: MIT */
/* Readers: mset_find, mset_find_next, mset_overlaps, mset_len, mset_foreach. */
#include "testutil.h"

static void three_areas(struct fx *f)
{
    MAP(f, 0x1000, 0x100, 1);
    MAP(f, 0x1100, 0x100, 2);
    MAP(f, 0x1300, 0x100, 3);
}

static void find_returns_the_containing_area(void **state)
{
    struct fx *f = *state;
    struct mset_area a;

    three_areas(f);
    assert_true(mset_find(f->s, 0x1000, &a)); /* start is inside */
    assert_int_equal(a.start, 0x1000);
    assert_int_equal(a.end, 0x1100);
    assert_int_equal(a.flags, 1);
    assert_ptr_equal(a.backend, &mock_backend);
    assert_true(mset_find(f->s, 0x10ff, &a));
    assert_int_equal(a.start, 0x1000);
    assert_true(mset_find(f->s, 0x1100, &a)); /* end is outside: next area */
    assert_int_equal(a.start, 0x1100);
    assert_true(mset_find(f->s, 0x13ff, &a));
    assert_int_equal(a.flags, 3);
}

static void find_misses_gaps_and_the_outside(void **state)
{
    struct fx *f = *state;
    struct mset_area a = { .start = 42 };

    assert_false(mset_find(f->s, 0x1000, &a)); /* empty set */
    three_areas(f);
    assert_false(mset_find(f->s, 0, &a));
    assert_false(mset_find(f->s, 0xfff, &a));
    assert_false(mset_find(f->s, 0x1200, &a));
    assert_false(mset_find(f->s, 0x12ff, &a));
    assert_false(mset_find(f->s, 0x1400, &a));
    assert_false(mset_find(f->s, UINTPTR_MAX, &a));
    assert_int_equal(a.start, 42); /* out is untouched on a miss */
    assert_false(mset_find(NULL, 0x1000, &a));
}

static void find_accepts_null_out(void **state)
{
    struct fx *f = *state;

    three_areas(f);
    assert_true(mset_find(f->s, 0x1050, NULL));
    assert_false(mset_find(f->s, 0x1250, NULL));
}

static void find_next_walks_the_set_in_order(void **state)
{
    struct fx *f = *state;
    struct mset_area a;
    uintptr_t starts[8];
    int n = 0;

    three_areas(f);
    assert_true(mset_find_next(f->s, 0x10ff, &a)); /* containing */
    assert_int_equal(a.start, 0x1000);
    assert_true(mset_find_next(f->s, 0x1200, &a)); /* in a gap: the next one */
    assert_int_equal(a.start, 0x1300);
    assert_false(mset_find_next(f->s, 0x1400, &a));
    for (uintptr_t at = 0; mset_find_next(f->s, at, &a); at = a.end)
        starts[n++] = a.start;
    assert_int_equal(n, 3);
    assert_int_equal(starts[0], 0x1000);
    assert_int_equal(starts[1], 0x1100);
    assert_int_equal(starts[2], 0x1300);
}

static void find_next_accepts_null_out(void **state)
{
    struct fx *f = *state;

    three_areas(f);
    assert_true(mset_find_next(f->s, 0x1200, NULL));
    assert_false(mset_find_next(f->s, 0x1400, NULL));
    assert_false(mset_find_next(NULL, 0x1000, NULL));
}

static void find_next_leaves_out_alone_when_nothing_follows(void **state)
{
    struct fx *f = *state;
    struct mset_area a = { .start = 42 };

    three_areas(f);
    assert_false(mset_find_next(f->s, 0x1400, &a));
    assert_false(mset_find_next(f->s, UINTPTR_MAX, &a));
    assert_int_equal(a.start, 42);
}

static void overlaps_answers_for_every_position(void **state)
{
    struct fx *f = *state;

    assert_false(mset_overlaps(f->s, 0, 0x10000)); /* empty set */
    three_areas(f);
    assert_true(mset_overlaps(f->s, 0x1000, 1));
    assert_true(mset_overlaps(f->s, 0x0f00, 0x101)); /* touches the first byte */
    assert_false(mset_overlaps(f->s, 0x0f00, 0x100)); /* ends where it starts */
    assert_false(mset_overlaps(f->s, 0x1200, 0x100)); /* exactly the gap */
    assert_true(mset_overlaps(f->s, 0x1200, 0x101));
    assert_true(mset_overlaps(f->s, 0x11ff, 0x2));
    assert_true(mset_overlaps(f->s, 0, 0x10000)); /* covers everything */
    assert_true(mset_overlaps(f->s, 0x1150, 0x10)); /* inside one */
    assert_false(mset_overlaps(f->s, 0x1400, 0x1000));
}

static void overlaps_rejects_empty_and_wrapping_ranges(void **state)
{
    struct fx *f = *state;

    three_areas(f);
    assert_false(mset_overlaps(f->s, 0x1000, 0));
    errno = 0;
    assert_false(mset_overlaps(f->s, UINTPTR_MAX - 0xfff, 0x2000));
    assert_int_equal(errno, EINVAL);
    assert_false(mset_overlaps(NULL, 0x1000, 0x100));
}

static void len_counts_areas(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_len(f->s), 0);
    three_areas(f);
    assert_int_equal(mset_len(f->s), 3);
    assert_int_equal(mset_unmap(f->s, 0x1080, 0x10), 0);
    assert_int_equal(mset_len(f->s), 4);
    assert_int_equal(mset_len(NULL), 0);
}

static int stop_at_second(const struct mset_area *a, void *arg)
{
    int *n = arg;

    (void)a;
    return ++*n == 2 ? 99 : 0;
}

static void foreach_stops_at_first_nonzero_return(void **state)
{
    struct fx *f = *state;
    int n = 0;

    three_areas(f);
    assert_int_equal(mset_foreach(f->s, stop_at_second, &n), 99);
    assert_int_equal(n, 2);
}

static void foreach_rejects_null_arguments(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mset_foreach(NULL, stop_at_second, NULL), -EINVAL);
    assert_int_equal(mset_foreach(f->s, NULL, NULL), -EINVAL);
}

struct reentry {
    mset_t *s;
    int n;
};

/* A callback may call readers and writers of the set it walks. */
static int unmap_while_walking(const struct mset_area *a, void *arg)
{
    struct reentry *r = arg;

    assert_true(mset_find(r->s, a->start, NULL));
    assert_int_equal(mset_unmap(r->s, a->start, a->end - a->start), 0);
    assert_false(mset_find(r->s, a->start, NULL));
    r->n++;
    return 0;
}

static void foreach_callback_may_call_writers(void **state)
{
    struct fx *f = *state;
    struct reentry r = { f->s, 0 };

    for (uintptr_t a = 0; a < 200; a++)
        MAP(f, 0x1000 + a * 0x100, 0x80, 1);
    assert_int_equal(mset_foreach(f->s, unmap_while_walking, &r), 0);
    assert_int_equal(r.n, 200);
    assert_int_equal(mset_len(f->s), 0);
    assert_consistent(f);
}


static void foreach_range_visits_only_intersecting_areas(void **state)
{
    struct fx *f = *state;
    struct collect c = { .n = 0 };

    three_areas(f); /* [0x1000, 0x1100) [0x1100, 0x1200) [0x1300, 0x1400) */
    assert_int_equal(mset_foreach_range(f->s, 0x10ff, 0x202, collect_cb, &c), 0);
    assert_int_equal(c.n, 3); /* crosses into the first, ends inside the third */
    assert_int_equal(c.a[0].start, 0x1000);
    assert_int_equal(c.a[2].start, 0x1300);
    c.n = 0;
    assert_int_equal(mset_foreach_range(f->s, 0x1100, 0x100, collect_cb, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.a[0].start, 0x1100);
    c.n = 0;
    assert_int_equal(mset_foreach_range(f->s, 0x1200, 0x100, collect_cb, &c), 0); /* the gap */
    assert_int_equal(c.n, 0);
    assert_int_equal(mset_foreach_range(f->s, 0x1200, 0, collect_cb, &c), -EINVAL);
    assert_int_equal(mset_foreach_range(f->s, UINTPTR_MAX - 0xf, 0x20, collect_cb, &c), -EINVAL);
}

static void snapshot_copies_every_area_in_order(void **state)
{
    struct fx *f = *state;
    struct mset_area buf[4];
    size_t n = 99;

    assert_int_equal(mset_snapshot(f->s, NULL, 0, &n), 0); /* empty set */
    assert_int_equal(n, 0);
    three_areas(f);
    assert_int_equal(mset_snapshot(f->s, buf, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(buf[0].start, 0x1000);
    assert_int_equal(buf[1].start, 0x1100);
    assert_int_equal(buf[2].start, 0x1300);
    assert_int_equal(buf[2].flags, 3);
}

static void snapshot_reports_the_size_it_needs(void **state)
{
    struct fx *f = *state;
    struct mset_area buf[2];
    size_t n = 0;

    three_areas(f);
    assert_int_equal(mset_snapshot(f->s, buf, 2, &n), -ENOSPC);
    assert_int_equal(n, 3);
    assert_int_equal(buf[1].start, 0x1100); /* the first cap areas */
    assert_int_equal(mset_snapshot(f->s, NULL, 0, &n), -ENOSPC);
    assert_int_equal(n, 3);
    assert_int_equal(mset_snapshot(f->s, NULL, 2, &n), -EINVAL);
    assert_int_equal(mset_snapshot(f->s, buf, 2, NULL), -EINVAL);
    assert_int_equal(mset_snapshot(NULL, buf, 2, &n), -EINVAL);
}

static void find_cached_answers_like_find_and_follows_writes(void **state)
{
    struct fx *f = *state;
    struct mset_cursor c = { 0 };
    struct mset_area a;

    three_areas(f);
    assert_true(mset_find_cached(f->s, 0x1010, &c, &a)); /* miss: fills the memo */
    assert_int_equal(a.start, 0x1000);
    assert_ptr_equal(c.set, f->s);
    assert_true(mset_find_cached(f->s, 0x10ff, &c, &a)); /* hit */
    assert_int_equal(a.end, 0x1100);
    assert_true(mset_find_cached(f->s, 0x1100, &c, &a)); /* another area */
    assert_int_equal(a.start, 0x1100);
    assert_false(mset_find_cached(f->s, 0x1250, &c, &a));

    assert_true(mset_find_cached(f->s, 0x1010, &c, NULL));
    assert_int_equal(mset_unmap(f->s, 0x1080, 0x80), 0); /* the remembered area shrinks */
    assert_false(mset_find_cached(f->s, 0x1090, &c, &a));
    assert_true(mset_find_cached(f->s, 0x1010, &c, &a));
    assert_int_equal(a.end, 0x1080);

    /* A writer that publishes nothing leaves memos valid. */
    assert_int_equal(mset_map(f->s, 0x1000, 0x10, 1, &mock_backend, NULL, false), -EEXIST);
    assert_int_equal(mset_unmap(f->s, 0x1200, 0x10), 0);
    unsigned v = c.version;
    assert_true(mset_find_cached(f->s, 0x1020, &c, &a));
    assert_int_equal(c.version, v);

    /* A memo of another set never answers. */
    mset_t *other = mset_new(NULL);
    assert_false(mset_find_cached(other, 0x1010, &c, &a));
    mset_destroy(other);
    assert_false(mset_find_cached(NULL, 0x1010, &c, &a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(find_returns_the_containing_area),
        TEST(find_misses_gaps_and_the_outside),
        TEST(find_accepts_null_out),
        TEST(find_cached_answers_like_find_and_follows_writes),
        TEST(find_next_walks_the_set_in_order),
        TEST(find_next_accepts_null_out),
        TEST(find_next_leaves_out_alone_when_nothing_follows),
        TEST(overlaps_answers_for_every_position),
        TEST(overlaps_rejects_empty_and_wrapping_ranges),
        TEST(len_counts_areas),
        TEST(foreach_stops_at_first_nonzero_return),
        TEST(foreach_rejects_null_arguments),
        TEST(foreach_callback_may_call_writers),
        TEST(foreach_range_visits_only_intersecting_areas),
        TEST(snapshot_copies_every_area_in_order),
        TEST(snapshot_reports_the_size_it_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
