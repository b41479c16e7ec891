/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd backend fills each page on first touch, from any number of
 * threads, with the contents its callback writes (or zeros), never outside a
 * live area, even while the areas are unmapped under the faulting threads;
 * and it leaves nothing behind: no thread, no descriptor, no waiting fault.
 * Exits 77 (meson: SKIP) where userfaultfd is unavailable.
 */
#include <pthread.h>

#include "linuxutil.h"

#define NPAGES ARENA_PAGES
#define WORDS(ps_) ((ps_) / sizeof(uint64_t))

/* The contents of word i of the page at addr, for an area keyed `key`. */
static uint64_t pattern(uintptr_t addr, size_t i, uintptr_t key)
{
    return ((uint64_t)addr + i * 8) * 0x9e3779b97f4a7c15ull ^ key;
}

struct ufx {
    mset_t *s;
    mset_arena_t *a;
    mset_uffd_t *u;
    const struct mset_backend *be;
    uintptr_t base;
    /*
     * Written by the fill callback in the handler thread, read by the test
     * after its access returns.  The kernel's wake orders the two, but
     * ThreadSanitizer cannot see it: atomics and a lock make it visible.
     */
    int fills[NPAGES]; /* fill calls per page; atomic */
    int fail_page;     /* fill fails for this page index, or -1; atomic */
    pthread_mutex_t seen_lock;
    struct mset_area seen; /* the area the last fill was given */
};

static int fills(struct ufx *f, int i)
{
    return __atomic_load_n(&f->fills[i], __ATOMIC_RELAXED);
}

static struct mset_area last_seen(struct ufx *f)
{
    pthread_mutex_lock(&f->seen_lock);
    struct mset_area a = f->seen;
    pthread_mutex_unlock(&f->seen_lock);
    return a;
}

static int pattern_fill(void *page, uintptr_t addr, size_t size, const struct mset_area *area,
                        void *arg)
{
    struct ufx *f = arg;
    size_t idx = (addr - f->base) / size;
    uint64_t *w = page;

    __atomic_fetch_add(&f->fills[idx], 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&f->seen_lock);
    f->seen = *area;
    pthread_mutex_unlock(&f->seen_lock);
    if ((int)idx == __atomic_load_n(&f->fail_page, __ATOMIC_RELAXED))
        return -EIO;
    for (size_t i = 0; i < WORDS(size); i++)
        w[i] = pattern(addr, i, (uintptr_t)area->udata);
    return 0;
}

static int ufx_setup(void **state)
{
    struct ufx *f = calloc(1, sizeof *f);

    if (!f || !(f->s = mset_new(NULL)) || !(f->a = mset_arena_new(0, NPAGES * ps(), NULL)))
        return -1;
    f->base = mset_arena_start(f->a);
    f->fail_page = -1;
    pthread_mutex_init(&f->seen_lock, NULL);
    struct mset_uffd_config cfg = {.arena = f->a, .fill = pattern_fill, .arg = f};
    if (!(f->u = mset_uffd_new(f->s, &cfg)))
        return -1;
    f->be = mset_uffd_backend(f->u);
    *state = f;
    return 0;
}

static int ufx_teardown(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(mset_uffd_destroy(f->u), 0);
    assert_int_equal(mset_arena_destroy(f->a), 0);
    mset_destroy(f->s);
    pthread_mutex_destroy(&f->seen_lock);
    free(f);
    return 0;
}

#define UTEST(fn) cmocka_unit_test_setup_teardown(fn, ufx_setup, ufx_teardown)
#define UPG(f, i) ((f)->base + (uintptr_t)(i)*ps())

/* The first word of page addr that differs from the pattern, or -1. */
static long bad_word(uintptr_t addr, uintptr_t key)
{
    const volatile uint64_t *w = (const volatile uint64_t *)addr;

    for (size_t i = 0; i < WORDS(ps()); i++)
        if (w[i] != pattern(addr, i, key))
            return (long)i;
    return -1;
}

static void assert_page_filled(uintptr_t addr, uintptr_t key)
{
    long i = bad_word(addr, key);

    if (i >= 0)
        fail_msg("page %#lx word %ld: %#llx, expected %#llx", (unsigned long)addr, i,
                 (unsigned long long)((uint64_t *)addr)[i],
                 (unsigned long long)pattern(addr, (size_t)i, key));
}

static void first_touch_fills_only_that_page_with_the_callbacks_contents(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(
        mset_map(f->s, UPG(f, 0), 4 * ps(), MSET_READ | MSET_WRITE, f->be, (void *)0xabc, false),
        0);
    assert_int_equal(resident_pages(UPG(f, 0), 4 * ps()), 0);
    assert_page_filled(UPG(f, 2), 0xabc);
    assert_int_equal(resident_pages(UPG(f, 0), 4 * ps()), 1);
    assert_int_equal(fills(f, 2), 1);
    assert_int_equal(fills(f, 0) + fills(f, 1) + fills(f, 3), 0);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.filled, 1);
}

static void the_callback_is_given_the_live_area(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(
        mset_map(f->s, UPG(f, 4), 3 * ps(), MSET_READ | 0x100, f->be, (void *)7, false), 0);
    (void)*(volatile char *)UPG(f, 5);
    struct mset_area seen = last_seen(f);
    assert_int_equal(seen.start, UPG(f, 4));
    assert_int_equal(seen.end, UPG(f, 7));
    assert_int_equal(seen.flags, MSET_READ | 0x100);
    assert_ptr_equal(seen.udata, (void *)7);
    assert_ptr_equal(seen.backend, f->be);
}

static void a_write_as_first_touch_sees_the_filled_page(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(
        mset_map(f->s, UPG(f, 0), ps(), MSET_READ | MSET_WRITE, f->be, (void *)1, false), 0);
    ((volatile uint64_t *)UPG(f, 0))[3] = 99;
    assert_int_equal(((uint64_t *)UPG(f, 0))[3], 99);
    assert_int_equal(((uint64_t *)UPG(f, 0))[4], pattern(UPG(f, 0), 4, 1));
}

static void without_a_callback_pages_are_zero_filled(void **state)
{
    struct ufx *f = *state;
    mset_uffd_t *z = mset_uffd_new(f->s, &(struct mset_uffd_config){.arena = f->a});

    assert_non_null(z);
    const struct mset_backend *be = mset_uffd_backend(z);
    assert_int_equal(mset_map(f->s, UPG(f, 10), 2 * ps(), MSET_READ, be, NULL, false), 0);
    for (size_t i = 0; i < 2 * ps(); i += 64)
        assert_int_equal(((volatile unsigned char *)UPG(f, 10))[i], 0);
    struct mset_uffd_stats st;
    mset_uffd_stats(z, &st);
    assert_int_equal(st.filled, 2);
    assert_int_equal(mset_unmap(f->s, UPG(f, 10), 2 * ps()), 0);
    assert_int_equal(mset_uffd_destroy(z), 0);
}

struct toucher {
    struct ufx *f;
    int id;
    int bad_page; /* the first page with wrong contents, or -1 */
};

/* Threads report to the main thread: cmocka assertions are not for them. */
static void *touch_all_pages(void *arg)
{
    struct toucher *t = arg;
    struct ufx *f = t->f;

    t->bad_page = -1;
    for (int k = 0; k < NPAGES; k++) {
        int i = (k * 7 + t->id * 13) % NPAGES; /* each thread in its own order */
        if (bad_word(UPG(f, i), 42) >= 0 && t->bad_page < 0)
            t->bad_page = i;
    }
    return NULL;
}

static void concurrent_first_touches_fill_each_page_once(void **state)
{
    struct ufx *f = *state;
    enum { T = 6 };
    pthread_t th[T];
    struct toucher tt[T];

    assert_int_equal(mset_map(f->s, UPG(f, 0), NPAGES * ps(), MSET_READ, f->be, (void *)42, false),
                     0);
    for (int i = 0; i < T; i++) {
        tt[i] = (struct toucher){f, i, -1};
        assert_int_equal(pthread_create(&th[i], NULL, touch_all_pages, &tt[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(tt[i].bad_page, -1);
    }
    for (int i = 0; i < NPAGES; i++)
        assert_int_equal(fills(f, i), 1);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.filled, NPAGES);
    assert_int_equal(st.fill_errors, 0);
}

static void a_failed_fill_makes_the_access_fail(void **state)
{
    struct ufx *f = *state;
    unsigned char v = 1;

    __atomic_store_n(&f->fail_page, 1, __ATOMIC_RELAXED);
    assert_int_equal(mset_map(f->s, UPG(f, 0), 2 * ps(), MSET_READ, f->be, (void *)3, false), 0);
    int sig = touch_read(UPG(f, 1), &v);
    /* Poisoned (SIGBUS) where the kernel has UFFDIO_POISON, else zeros. */
    assert_true(sig == SIGBUS || (sig == 0 && v == 0));
    assert_page_filled(UPG(f, 0), 3);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.fill_errors, 1);
    /* Unmapped and mapped again, the page is filled afresh. */
    __atomic_store_n(&f->fail_page, -1, __ATOMIC_RELAXED);
    assert_int_equal(mset_map(f->s, UPG(f, 1), ps(), MSET_READ, f->be, (void *)4, true), 0);
    assert_page_filled(UPG(f, 1), 4);
}

static void a_forbidden_access_faults_without_reaching_the_handler(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(mset_map(f->s, UPG(f, 0), ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(touch_write(UPG(f, 0), 1), SIGSEGV);
    struct mset_uffd_stats st;
    mset_uffd_stats(f->u, &st);
    assert_int_equal(st.faults, 0);
    assert_int_equal(resident_pages(UPG(f, 0), ps()), 0);
}

static void protect_keeps_lazy_filling(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(
        mset_map(f->s, UPG(f, 0), 2 * ps(), MSET_READ | MSET_WRITE, f->be, (void *)5, false), 0);
    assert_int_equal(f->be->protect(f->be, NULL, UPG(f, 1), ps(), MSET_READ), 0);
    assert_page_filled(UPG(f, 1), 5);
    assert_int_equal(touch_write(UPG(f, 1), 1), SIGSEGV);
}

static void destroy_refuses_while_areas_are_mapped(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(mset_map(f->s, UPG(f, 0), ps(), MSET_READ, f->be, (void *)6, false), 0);
    assert_int_equal(mset_uffd_destroy(f->u), -EBUSY);
    /* The backend still works. */
    assert_page_filled(UPG(f, 0), 6);
}

static void a_mapping_failure_leaves_the_range_as_it_was(void **state)
{
    struct ufx *f = *state;

    assert_int_equal(
        mset_map(f->s, UPG(f, 0), ps(), MSET_READ, mset_arena_backend(f->a), NULL, false), 0);
    assert_int_equal(mset_map(f->s, UPG(f, 0), 2 * ps(), MSET_READ, f->be, NULL, false), -EEXIST);
    assert_int_equal(f->be->map(f->be, NULL, UPG(f, 0), 2 * ps(), MSET_READ), -EEXIST);
    assert_int_equal(f->be->map(f->be, NULL, UPG(f, 0) + 1, ps(), MSET_READ), -EINVAL);
    assert_kernel_prot(UPG(f, 0), ps(), MSET_READ);
    assert_kernel_prot(UPG(f, 1), ps(), 0);
    /* Nothing of the uffd backend is mapped: it can go. */
    mset_uffd_t *u2 = mset_uffd_new(f->s, &(struct mset_uffd_config){.arena = f->a});
    assert_non_null(u2);
    const struct mset_backend *be2 = mset_uffd_backend(u2);
    assert_int_equal(be2->map(be2, NULL, UPG(f, 0), ps(), MSET_READ), -EEXIST);
    assert_int_equal(mset_uffd_destroy(u2), 0);
}

/* ------------------------------------------------------ unmap under faults */

struct storm {
    struct ufx *f;
    int stop; /* atomic */
    uint64_t seed;
};

struct storm_thread {
    struct storm *st;
    uint64_t rng;
    long reads, signals;
    char error[200]; /* the first violated check, for the main thread */
};

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Read random pages; a read that saw the same area before and after must
 * see that area's contents. */
static void *storm_reader(void *arg)
{
    struct storm_thread *t = arg;
    struct ufx *f = t->st->f;

    while (!__atomic_load_n(&t->st->stop, __ATOMIC_RELAXED)) {
        uintptr_t page = UPG(f, rnd(&t->rng) % NPAGES);
        size_t w = rnd(&t->rng) % WORDS(ps());
        struct mset_area before, after;
        bool b = mset_find(f->s, page, &before);
        uint64_t v = 0;
        int sig = touch_read64(page + w * 8, &v);
        bool a = mset_find(f->s, page, &after);
        if (sig) {
            t->signals++;
            continue;
        }
        t->reads++;
        if (b && a && before.udata == after.udata &&
            v != pattern(page, w, (uintptr_t)before.udata) && !t->error[0])
            snprintf(t->error, sizeof t->error,
                     "seed %llu: page %#lx word %zu: %#llx, expected %#llx (area key %p)",
                     (unsigned long long)t->st->seed, (unsigned long)page, w, (unsigned long long)v,
                     (unsigned long long)pattern(page, w, (uintptr_t)before.udata), before.udata);
    }
    return NULL;
}

static bool set_prot(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static void unmapping_under_a_storm_of_faults_neither_hangs_nor_fills_outside_areas(void **state)
{
    struct ufx *f = *state;
    enum { T = 4, OPS = 1500 };
    struct storm st = {.f = f, .seed = 12345};
    struct storm_thread tt[T];
    pthread_t th[T];
    uint64_t x = st.seed;
    uintptr_t key = 1000;

    touch_hold();
    for (int i = 0; i < T; i++) {
        tt[i] = (struct storm_thread){.st = &st, .rng = st.seed * (i + 1) + 1};
        assert_int_equal(pthread_create(&th[i], NULL, storm_reader, &tt[i]), 0);
    }
    for (int op = 0; op < OPS; op++) {
        uintptr_t start = UPG(f, rnd(&x) % NPAGES);
        size_t len = (1 + rnd(&x) % 8) * ps();
        if (start + len > mset_arena_end(f->a))
            len = mset_arena_end(f->a) - start;
        switch (rnd(&x) % 3) {
        case 0:
            assert_int_equal(
                mset_map(f->s, start, len, MSET_READ | MSET_WRITE, f->be, (void *)++key, true), 0);
            break;
        case 1:
            assert_int_equal(mset_unmap(f->s, start, len), 0);
            /* Whatever faults were in flight, nothing was filled here. */
            if (resident_pages(start, len) != 0)
                fail_msg("seed %llu op %d: [%#lx, +%zu) unmapped but resident",
                         (unsigned long long)st.seed, op, (unsigned long)start, len);
            break;
        default: {
            unsigned prot = (rnd(&x) % 2) ? MSET_READ : 0;
            assert_int_equal(mset_protect(f->s, start, len, set_prot, &prot), 0);
            break;
        }
        }
    }
    __atomic_store_n(&st.stop, 1, __ATOMIC_RELAXED);
    long reads = 0, sigs = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        if (tt[i].error[0])
            fail_msg("%s", tt[i].error);
        reads += tt[i].reads;
        sigs += tt[i].signals;
    }
    touch_unhold();
    /* Every page filled during the storm and still live holds its area's
     * contents: none was filled for an area the set no longer shows. */
    unsigned rd = MSET_READ;
    assert_int_equal(mset_protect(f->s, f->base, NPAGES * ps(), set_prot, &rd), 0);
    unsigned char vec[NPAGES];
    assert_int_equal(mincore((void *)f->base, NPAGES * ps(), vec), 0);
    for (int i = 0; i < NPAGES; i++) {
        struct mset_area a;
        if (!(vec[i] & 1))
            continue;
        if (!mset_find(f->s, UPG(f, i), &a))
            fail_msg("seed %llu: page %#lx resident outside every area",
                     (unsigned long long)st.seed, (unsigned long)UPG(f, i));
        long w = bad_word(UPG(f, i), (uintptr_t)a.udata);
        if (w >= 0)
            fail_msg("seed %llu: page %#lx word %ld does not hold area %p's contents",
                     (unsigned long long)st.seed, (unsigned long)UPG(f, i), w, a.udata);
    }
    struct mset_uffd_stats us;
    mset_uffd_stats(f->u, &us);
    printf("# storm: %ld reads, %ld signals; %llu faults, %llu filled, %llu woken\n", reads, sigs,
           (unsigned long long)us.faults, (unsigned long long)us.filled,
           (unsigned long long)us.woken);
    assert_true(us.filled > 0);
    assert_int_equal(mset_check(f->s), 0);
}

/* ------------------------------------------------ start-up and shut-down */

static void no_handler_thread_or_descriptor_is_left_behind(void **state)
{
    (void)state;
    mset_t *s = mset_new(NULL);
    int fds = open_fds();

    assert_int_equal(threads_named("mset-uffd"), 0);
    for (int i = 0; i < 20; i++) {
        mset_uffd_t *u = mset_uffd_new(s, NULL);
        assert_non_null(u);
        assert_int_equal(threads_named("mset-uffd"), 1);
        uintptr_t at = map_fresh(s, ps(), MSET_READ, mset_uffd_backend(u));
        assert_int_equal(*(volatile char *)at, 0);
        assert_int_equal(mset_unmap(s, at, ps()), 0);
        assert_int_equal(mset_uffd_destroy(u), 0);
        assert_int_equal(threads_named("mset-uffd"), 0);
    }
    assert_int_equal(open_fds(), fds);
    mset_destroy(s);
}

/* A fault blocked in a slow fill while its area is unmapped. */
struct slow {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int entered, go;
    uintptr_t base;
};

static int slow_fill(void *page, uintptr_t addr, size_t size, const struct mset_area *a, void *arg)
{
    struct slow *sl = arg;
    (void)addr;
    (void)a;

    pthread_mutex_lock(&sl->m);
    sl->entered = 1;
    pthread_cond_broadcast(&sl->cv);
    while (!sl->go)
        pthread_cond_wait(&sl->cv, &sl->m);
    pthread_mutex_unlock(&sl->m);
    memset(page, 0x77, size);
    return 0;
}

struct unmapper {
    mset_t *s;
    uintptr_t at;
    int done; /* atomic */
};

static void *do_unmap(void *arg)
{
    struct unmapper *um = arg;

    assert_int_equal(mset_unmap(um->s, um->at, ps()), 0);
    __atomic_store_n(&um->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *read_page(void *arg)
{
    unsigned char v = 0;
    int sig = touch_read((uintptr_t)arg, &v);

    return (void *)(uintptr_t)(sig ? 1000 + sig : v);
}

static void an_unmap_waits_for_the_fill_in_progress(void **state)
{
    (void)state;
    struct slow sl = {.m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    mset_t *s = mset_new(NULL);
    mset_uffd_t *u = mset_uffd_new(s, &(struct mset_uffd_config){.fill = slow_fill, .arg = &sl});
    pthread_t reader, unmapper;
    void *got;

    uintptr_t at = map_fresh(s, ps(), MSET_READ, mset_uffd_backend(u));
    touch_hold();
    assert_int_equal(pthread_create(&reader, NULL, read_page, (void *)at), 0);
    pthread_mutex_lock(&sl.m);
    while (!sl.entered)
        pthread_cond_wait(&sl.cv, &sl.m);
    pthread_mutex_unlock(&sl.m);

    struct unmapper um = {s, at, 0};
    assert_int_equal(pthread_create(&unmapper, NULL, do_unmap, &um), 0);
    usleep(50 * 1000);
    assert_int_equal(__atomic_load_n(&um.done, __ATOMIC_ACQUIRE), 0); /* waits for the fill */
    pthread_mutex_lock(&sl.m);
    sl.go = 1;
    pthread_cond_broadcast(&sl.cv);
    pthread_mutex_unlock(&sl.m);
    pthread_join(unmapper, NULL);
    pthread_join(reader, &got);
    touch_unhold();
    /* The unmap came after the fill: woken by it, the reader either ran
     * first and read the page, or ran after the unmap and faulted. */
    assert_true((uintptr_t)got == 0x77 || (uintptr_t)got == 1000 + SIGSEGV);
    assert_int_equal(kernel_prot(at), -1);
    assert_int_equal(mset_uffd_destroy(u), 0);
    mset_destroy(s);
}

static void creation_rejects_bad_arguments(void **state)
{
    (void)state;
    mset_t *s = mset_new(NULL);

    errno = 0;
    assert_null(mset_uffd_new(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mset_uffd_new(s, &(struct mset_uffd_config){.flags = 0x80}));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mset_uffd_new(s, &(struct mset_uffd_config){.name = "a]b"}));
    assert_int_equal(errno, EINVAL);
    assert_null(mset_uffd_backend(NULL));
    assert_int_equal(mset_uffd_destroy(NULL), 0);
    assert_int_equal(threads_named("mset-uffd"), 0);
    mset_destroy(s);
}

static void kernel_faults_need_privileges_or_work(void **state)
{
    (void)state;
    mset_t *s = mset_new(NULL);
    mset_uffd_t *u = mset_uffd_new(s, &(struct mset_uffd_config){.flags = MSET_UFFD_KERNEL_FAULTS});

    if (!u) {
        /* Unprivileged: a clear EPERM. */
        assert_int_equal(errno, EPERM);
        mset_destroy(s);
        skip();
    }
    /* A system call writing into a page not filled yet waits for the fill. */
    uintptr_t at = map_fresh(s, ps(), MSET_READ | MSET_WRITE, mset_uffd_backend(u));
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hi", 2), 2);
    assert_int_equal(read(p[0], (void *)at, 2), 2);
    assert_memory_equal((void *)at, "hi", 2);
    close(p[0]);
    close(p[1]);
    assert_int_equal(mset_clear(s), 0);
    assert_int_equal(mset_uffd_destroy(u), 0);
    mset_destroy(s);
}

static void user_mode_only_makes_system_calls_fail_with_efault(void **state)
{
    (void)state;
    mset_t *s = mset_new(NULL);
    mset_uffd_t *u = mset_uffd_new(s, NULL);
    int p[2];

    assert_non_null(u);
    uintptr_t at = map_fresh(s, ps(), MSET_READ | MSET_WRITE, mset_uffd_backend(u));
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hi", 2), 2);
    errno = 0;
    assert_int_equal(read(p[0], (void *)at, 2), -1);
    assert_int_equal(errno, EFAULT);
    close(p[0]);
    close(p[1]);
    assert_int_equal(mset_clear(s), 0);
    assert_int_equal(mset_uffd_destroy(u), 0);
    mset_destroy(s);
}

int main(void)
{
    require_uffd();
    const struct CMUnitTest tests[] = {
        UTEST(first_touch_fills_only_that_page_with_the_callbacks_contents),
        UTEST(the_callback_is_given_the_live_area),
        UTEST(a_write_as_first_touch_sees_the_filled_page),
        UTEST(without_a_callback_pages_are_zero_filled),
        UTEST(concurrent_first_touches_fill_each_page_once),
        UTEST(a_failed_fill_makes_the_access_fail),
        UTEST(a_forbidden_access_faults_without_reaching_the_handler),
        UTEST(protect_keeps_lazy_filling),
        UTEST(destroy_refuses_while_areas_are_mapped),
        UTEST(a_mapping_failure_leaves_the_range_as_it_was),
        UTEST(unmapping_under_a_storm_of_faults_neither_hangs_nor_fills_outside_areas),
        cmocka_unit_test(no_handler_thread_or_descriptor_is_left_behind),
        cmocka_unit_test(an_unmap_waits_for_the_fill_in_progress),
        cmocka_unit_test(creation_rejects_bad_arguments),
        cmocka_unit_test(kernel_faults_need_privileges_or_work),
        cmocka_unit_test(user_mode_only_makes_system_calls_fail_with_efault),
    };
    return run_group(tests);
}
