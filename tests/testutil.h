/* SPDX-License-Identifier: MIT */
/* Shared fixture and assertions for the cmocka unit tests. */
#ifndef MSET_TESTS_TESTUTIL_H
#define MSET_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mock_backend.h"
#include "mset.h"

#ifdef NDEBUG
#error "Tests must not be built with NDEBUG defined, they rely on assert()"
#endif

/* A set over a mock page table. */
struct fx {
    mset_t *s;
    struct mock_pt *pt;
};

static inline int fx_setup(void **state)
{
    struct fx *f = malloc(sizeof *f);

    if (!f)
        return -1;
    f->pt = mock_pt_new();
    f->s = mset_new(f->pt);
    *state = f;
    return f->s ? 0 : -1;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;

    mset_destroy(f->s);
    mock_pt_free(f->pt);
    free(f);
    return 0;
}

/* An expected area. */
struct xa {
    uintptr_t start, end;
    unsigned flags;
};

struct collect {
    struct mset_area a[256];
    size_t n;
};

static inline int collect_cb(const struct mset_area *a, void *arg)
{
    struct collect *c = arg;

    if (c->n < 256)
        c->a[c->n] = *a;
    c->n++;
    return 0;
}

/* The set holds exactly the areas xs[0..n), its internal invariants hold, and
 * the mock page table says the same thing byte by byte. */
#define assert_areas(f, ...)                                                                    \
    do {                                                                                        \
        const struct xa xs_[] = { __VA_ARGS__ };                                               \
        assert_areas_(f, xs_, sizeof xs_ / sizeof xs_[0], __FILE__, __LINE__);                  \
    } while (0)

static inline void assert_areas_(struct fx *f, const struct xa *xs, size_t n, const char *file,
                                 int line)
{
    struct collect c = { .n = 0 };

    assert_int_equal(mset_foreach(f->s, collect_cb, &c), 0);
    if (c.n != n)
        fprintf(stderr, "%s:%d: %zu areas, expected %zu\n", file, line, c.n, n);
    assert_int_equal(c.n, n);
    assert_int_equal(mset_len(f->s), n);
    for (size_t i = 0; i < n; i++) {
        if (c.a[i].start != xs[i].start || c.a[i].end != xs[i].end || c.a[i].flags != xs[i].flags)
            fprintf(stderr, "%s:%d: area %zu is [%#lx, %#lx) %u, expected [%#lx, %#lx) %u\n",
                    file, line, i, (unsigned long)c.a[i].start, (unsigned long)c.a[i].end,
                    c.a[i].flags, (unsigned long)xs[i].start, (unsigned long)xs[i].end,
                    xs[i].flags);
        assert_int_equal(c.a[i].start, xs[i].start);
        assert_int_equal(c.a[i].end, xs[i].end);
        assert_int_equal(c.a[i].flags, xs[i].flags);
    }
    assert_int_equal(mset_check(f->s), 0);
    assert_true(mock_matches_set(f->pt, f->s));
    assert_int_equal(f->pt->violations, 0);
}

/* Every invariant holds and the page table agrees, whatever the areas are. */
static inline void assert_consistent(struct fx *f)
{
    assert_int_equal(mset_check(f->s), 0);
    assert_true(mock_matches_set(f->pt, f->s));
    assert_int_equal(f->pt->violations, 0);
}

#define MAP(f, start, size, flags) \
    assert_int_equal(mset_map((f)->s, (start), (size), (flags), &mock_backend, NULL, false), 0)

/* The n-th logged backend call. */
#define assert_call(f, n, op_, start_, end_)                 \
    do {                                                     \
        assert_true((f)->pt->nlog > (n));                    \
        assert_int_equal((f)->pt->log[n].op, (op_));         \
        assert_int_equal((f)->pt->log[n].start, (start_));   \
        assert_int_equal((f)->pt->log[n].end, (end_));       \
    } while (0)

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#endif
