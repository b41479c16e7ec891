/* SPDX-License-Identifier: MIT */
/*
 * Write tracking with the userfaultfd backend: after mset_uffd_track_writes()
 * the first write to each page, populated or not, is reported exactly once
 * (dirty set or on_write callback), before it happens, and then proceeds.
 * Exits 77 (meson: SKIP) where userfaultfd or its write protection of
 * unpopulated anonymous memory (Linux 6.4) is unavailable.
 */
#include <pthread.h>

#include "linuxutil.h"

#define NPAGES ARENA_PAGES

struct wfx {
    mset_t *s;
    mset_arena_t *a;
    mset_uffd_t *u;
    const struct mset_backend *be;
    uintptr_t base;
    /* on_write mode: written in the handler thread, read by the test after
     * its write returns; atomics make that order visible to ThreadSanitizer
     * (the kernel's wake orders it, unseen). */
    int writes[NPAGES];
    unsigned char old_first_byte[NPAGES];
};

/* Several threads write the same bytes, and on_write reads a page in the
 * handler thread while its writer waits: relaxed atomics say that this
 * sharing is intended. */
static void poke(uintptr_t addr, unsigned char v)
{
    __atomic_store_n((unsigned char *)addr, v, __ATOMIC_RELAXED);
}

static unsigned char peek(uintptr_t addr)
{
    return __atomic_load_n((unsigned char *)addr, __ATOMIC_RELAXED);
}

static int fill_ff(void *page, uintptr_t addr, size_t size, const struct mset_area *a, void *arg)
{
    (void)addr;
    (void)a;
    (void)arg;
    memset(page, 0xff, size);
    return 0;
}

static void on_write(uintptr_t addr, const struct mset_area *a, void *arg)
{
    struct wfx *f = arg;
    size_t i = (addr - f->base) / ps();

    (void)a;
    __atomic_fetch_add(&f->writes[i], 1, __ATOMIC_RELAXED);
    /* The write has not happened yet. */
    __atomic_store_n(&f->old_first_byte[i], peek(addr), __ATOMIC_RELAXED);
}

static int setup(void **state, bool callback)
{
    struct wfx *f = calloc(1, sizeof *f);

    if (!f || !(f->s = mset_new(NULL)) || !(f->a = mset_arena_new(0, NPAGES * ps(), NULL)))
        return -1;
    f->base = mset_arena_start(f->a);
    struct mset_uffd_config cfg = {
        .arena = f->a, .fill = fill_ff, .on_write = callback ? on_write : NULL, .arg = f};
    if (!(f->u = mset_uffd_new(f->s, &cfg)))
        return -1;
    f->be = mset_uffd_backend(f->u);
    if (mset_map(f->s, f->base, NPAGES * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false))
        return -1;
    *state = f;
    return 0;
}

static int wfx_setup(void **state)
{
    return setup(state, false);
}

static int wfx_setup_cb(void **state)
{
    return setup(state, true);
}

static int wfx_teardown(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(mset_uffd_destroy(f->u), 0);
    assert_int_equal(mset_arena_destroy(f->a), 0);
    mset_destroy(f->s);
    free(f);
    return 0;
}

#define WTEST(fn) cmocka_unit_test_setup_teardown(fn, wfx_setup, wfx_teardown)
#define WTEST_CB(fn) cmocka_unit_test_setup_teardown(fn, wfx_setup_cb, wfx_teardown)
#define WPG(f, i) ((f)->base + (uintptr_t)(i)*ps())

/* The dirty set, as page indexes, in the order reported. */
struct dirty {
    struct wfx *f;
    int page[NPAGES + 1];
    int n;
    int runs;
};

static void collect_cb(uintptr_t start, size_t size, void *arg)
{
    struct dirty *d = arg;

    d->runs++;
    for (uintptr_t p = start; p < start + size; p += ps())
        if (d->n <= NPAGES)
            d->page[d->n++] = (int)((p - d->f->base) / ps());
}

static struct dirty collect(struct wfx *f, bool rearm)
{
    struct dirty d = {.f = f};

    assert_int_equal(mset_uffd_collect_dirty(f->u, rearm, collect_cb, &d), 0);
    return d;
}

/* `d` is evaluated once (it may be a call to collect()). */
#define assert_dirty(d, ...)                                                                       \
    do {                                                                                           \
        const struct dirty d_ = (d);                                                               \
        const int want_[] = {__VA_ARGS__};                                                         \
        size_t n_ = sizeof want_ / sizeof want_[0];                                                \
        if ((size_t)d_.n != n_)                                                                    \
            fail_msg("%d dirty pages, expected %zu", d_.n, n_);                                    \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            if (d_.page[i_] != want_[i_])                                                          \
                fail_msg("dirty page %zu is %d, expected %d", i_, d_.page[i_], want_[i_]);         \
    } while (0)

static void touch_pages(struct wfx *f, int from, int to)
{
    for (int i = from; i < to; i++)
        (void)peek(WPG(f, i));
}

static void writes_are_reported_exactly_for_the_pages_written(void **state)
{
    struct wfx *f = *state;

    touch_pages(f, 0, 8); /* pages 0..7 populated, the rest not yet */
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    poke(WPG(f, 1), 1);
    poke(WPG(f, 3) + 100, 2);
    poke(WPG(f, 4), 3);
    poke(WPG(f, 9), 4); /* not populated: filled, reported, written */
    poke(WPG(f, 63) + ps() - 1, 5);
    touch_pages(f, 0, NPAGES); /* reads everywhere */
    struct dirty d = collect(f, false);
    assert_dirty(d, 1, 3, 4, 9, 63);
    assert_int_equal(d.runs, 4); /* 3 and 4 form one run */
    /* The writes happened, the rest of each page is the fill. */
    assert_int_equal(peek(WPG(f, 3) + 100), 2);
    assert_int_equal(peek(WPG(f, 3) + 101), 0xff);
    assert_int_equal(peek(WPG(f, 9)), 4);
    assert_int_equal(peek(WPG(f, 9) + 1), 0xff);
    assert_int_equal(peek(WPG(f, 63) + ps() - 1), 5);
}

static void reads_are_not_reported(void **state)
{
    struct wfx *f = *state;

    touch_pages(f, 0, 4);
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    touch_pages(f, 0, NPAGES);
    struct dirty d = collect(f, false);
    assert_int_equal(d.n, 0);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.writes, 0);
}

static void an_armed_page_read_first_still_reports_its_first_write(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_uffd_track_writes(f->u, WPG(f, 5), ps()), 0);
    assert_int_equal(peek(WPG(f, 5)), 0xff); /* filled, write-protected */
    poke(WPG(f, 5) + 8, 9);
    struct dirty d = collect(f, false);
    assert_dirty(d, 5);
}

static void a_page_is_reported_once_per_arming(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_uffd_track_writes(f->u, f->base, 4 * ps()), 0);
    for (int k = 0; k < 10; k++)
        poke(WPG(f, 2) + (size_t)k * 64, (unsigned char)k);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.writes, 1);
    assert_dirty(collect(f, false), 2);
}

static void collect_with_rearm_reports_the_next_writes_again(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    poke(WPG(f, 7), 1);
    poke(WPG(f, 8), 1);
    assert_dirty(collect(f, true), 7, 8);
    poke(WPG(f, 8), 2);
    poke(WPG(f, 20), 2);
    assert_dirty(collect(f, true), 8, 20);
    assert_int_equal(collect(f, true).n, 0);
}

static void collect_without_rearm_lets_later_writes_pass_silently(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    poke(WPG(f, 7), 1);
    assert_dirty(collect(f, false), 7);
    poke(WPG(f, 7), 2);
    assert_int_equal(collect(f, false).n, 0);
    assert_int_equal(peek(WPG(f, 7)), 2);
}

static void untracking_stops_the_reports(void **state)
{
    struct wfx *f = *state;

    touch_pages(f, 0, 2);
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, 4 * ps()), 0);
    assert_int_equal(mset_uffd_untrack_writes(f->u, f->base, 4 * ps()), 0);
    poke(WPG(f, 0), 1); /* populated */
    poke(WPG(f, 3), 1); /* not populated: its marker is gone too */
    assert_int_equal(collect(f, false).n, 0);
}

static void unmapped_pages_leave_the_dirty_set(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    poke(WPG(f, 10), 1);
    poke(WPG(f, 11), 1);
    poke(WPG(f, 12), 1);
    assert_int_equal(mset_unmap(f->s, WPG(f, 11), ps()), 0);
    assert_dirty(collect(f, false), 10, 12);
}

static void protection_changes_keep_pages_armed(void **state)
{
    struct wfx *f = *state;
    unsigned ro = MSET_READ, rw = MSET_READ | MSET_WRITE;

    touch_pages(f, 0, 2);
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, 2 * ps()), 0);
    assert_int_equal(f->be->protect(f->be, NULL, f->base, 2 * ps(), ro), 0);
    assert_int_equal(touch_write(WPG(f, 0), 1), SIGSEGV); /* read-only wins */
    assert_int_equal(f->be->protect(f->be, NULL, f->base, 2 * ps(), rw), 0);
    poke(WPG(f, 1), 1);
    assert_dirty(collect(f, false), 1);
}

static void tracking_needs_a_live_area_of_this_backend(void **state)
{
    struct wfx *f = *state;

    assert_int_equal(mset_unmap(f->s, WPG(f, 30), ps()), 0);
    assert_int_equal(mset_uffd_track_writes(f->u, WPG(f, 29), 3 * ps()), -ENOENT);
    /* Nothing was armed, not even the live pages 29 and 31. */
    poke(WPG(f, 29), 1);
    poke(WPG(f, 31), 1);
    assert_int_equal(collect(f, false).n, 0);
    assert_int_equal(mset_uffd_track_writes(f->u, WPG(f, 29) + 1, ps()), -EINVAL);
    assert_int_equal(mset_uffd_track_writes(f->u, WPG(f, 29), 0), -EINVAL);
    assert_int_equal(mset_uffd_track_writes(NULL, WPG(f, 29), ps()), -EINVAL);
    assert_int_equal(mset_uffd_collect_dirty(f->u, false, NULL, NULL), -EINVAL);
}

struct writer {
    struct wfx *f;
    int first, stride;
};

static void *write_pages(void *arg)
{
    struct writer *w = arg;

    for (int i = w->first; i < NPAGES; i += w->stride) {
        poke(WPG(w->f, i), 1);
        poke(WPG(w->f, i) + 1, 2);
    }
    return NULL;
}

static void writes_from_several_threads_report_exactly_their_pages(void **state)
{
    struct wfx *f = *state;
    enum { T = 3 };
    pthread_t th[T];
    struct writer w[T];

    touch_pages(f, 0, NPAGES / 2); /* half populated */
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, NPAGES * ps()), 0);
    /* Every thread writes every even page; the main thread reads them all. */
    for (int i = 0; i < T; i++) {
        w[i] = (struct writer){f, 0, 2};
        assert_int_equal(pthread_create(&th[i], NULL, write_pages, &w[i]), 0);
    }
    touch_pages(f, 0, NPAGES);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    struct dirty d = collect(f, false);
    assert_int_equal(d.n, NPAGES / 2);
    for (int i = 0; i < d.n; i++)
        assert_int_equal(d.page[i], 2 * i);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.writes, NPAGES / 2);
}

static void on_write_runs_once_per_page_before_the_write(void **state)
{
    struct wfx *f = *state;

    touch_pages(f, 0, 2);
    assert_int_equal(mset_uffd_track_writes(f->u, f->base, 4 * ps()), 0);
    poke(WPG(f, 1), 0x11);
    poke(WPG(f, 1), 0x12);
    poke(WPG(f, 3), 0x33); /* not populated */
    int w[4];
    for (int i = 0; i < 4; i++)
        w[i] = __atomic_load_n(&f->writes[i], __ATOMIC_RELAXED);
    assert_int_equal(w[0], 0);
    assert_int_equal(w[1], 1);
    assert_int_equal(w[2], 0);
    assert_int_equal(w[3], 1);
    /* The callback saw the contents before the write. */
    assert_int_equal(__atomic_load_n(&f->old_first_byte[1], __ATOMIC_RELAXED), 0xff);
    assert_int_equal(__atomic_load_n(&f->old_first_byte[3], __ATOMIC_RELAXED), 0xff);
    assert_int_equal(peek(WPG(f, 1)), 0x12);
    /* With a callback, nothing goes to the dirty set. */
    assert_int_equal(collect(f, false).n, 0);
}

static void require_tracking(void)
{
    mset_t *s = mset_new(NULL);
    mset_uffd_t *u = mset_uffd_new(s, NULL);
    assert_non_null(u);
    uintptr_t at = map_fresh(s, ps(), MSET_READ | MSET_WRITE, mset_uffd_backend(u));
    int rc = mset_uffd_track_writes(u, at, ps());
    mset_clear(s);
    mset_uffd_destroy(u);
    mset_destroy(s);
    if (rc == -EOPNOTSUPP) {
        printf("SKIP: this kernel cannot write-protect unpopulated anonymous memory\n");
        exit(77);
    }
    assert_int_equal(rc, 0);
}

int main(void)
{
    require_uffd();
    require_tracking();
    const struct CMUnitTest tests[] = {
        WTEST(writes_are_reported_exactly_for_the_pages_written),
        WTEST(reads_are_not_reported),
        WTEST(an_armed_page_read_first_still_reports_its_first_write),
        WTEST(a_page_is_reported_once_per_arming),
        WTEST(collect_with_rearm_reports_the_next_writes_again),
        WTEST(collect_without_rearm_lets_later_writes_pass_silently),
        WTEST(untracking_stops_the_reports),
        WTEST(unmapped_pages_leave_the_dirty_set),
        WTEST(protection_changes_keep_pages_armed),
        WTEST(tracking_needs_a_live_area_of_this_backend),
        WTEST(writes_from_several_threads_report_exactly_their_pages),
        WTEST_CB(on_write_runs_once_per_page_before_the_write),
    };
    return run_group(tests);
}
