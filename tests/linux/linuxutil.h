/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the Linux backend tests: what the kernel says about our pages
 * (/proc/self/maps, mincore), touching pages with faults caught by
 * sigsetjmp, and a set-plus-arena fixture.
 */
#ifndef MSET_TESTS_LINUXUTIL_H
#define MSET_TESTS_LINUXUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mset.h"

#ifdef NDEBUG
#error "Tests must not be built with NDEBUG defined, they rely on assert()"
#endif

#define RWX (MSET_READ | MSET_WRITE | MSET_EXEC)

static inline size_t ps(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------- /proc/self/maps */

struct vma {
    uintptr_t start, end;
    unsigned prot; /* MSET_READ | MSET_WRITE | MSET_EXEC */
    char name[96]; /* the path column: "[anon:x]", "[heap]", a file, or "" */
};

struct maps {
    struct vma *v;
    size_t n;
};

/* Read /proc/self/maps (only the lines touching [lo, hi) are kept). */
static inline void maps_read(struct maps *m, uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    size_t cap = 16;

    assert_non_null(f);
    m->n = 0;
    m->v = malloc(cap * sizeof *m->v);
    assert_non_null(m->v);
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char perms[8];
        int off = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &s, &e, perms, &off) < 3)
            continue;
        if (e <= lo || s >= hi)
            continue;
        if (m->n == cap) {
            cap *= 2;
            m->v = realloc(m->v, cap * sizeof *m->v);
            assert_non_null(m->v);
        }
        struct vma *v = &m->v[m->n++];
        v->start = s;
        v->end = e;
        v->prot = (perms[0] == 'r' ? MSET_READ : 0) | (perms[1] == 'w' ? MSET_WRITE : 0) |
                  (perms[2] == 'x' ? MSET_EXEC : 0);
        const char *p = line + off;
        while (*p == ' ')
            p++;
        snprintf(v->name, sizeof v->name, "%s", p);
        v->name[strcspn(v->name, "\n")] = 0;
    }
    fclose(f);
}

static inline void maps_free(struct maps *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

/* The kernel mapping containing addr, or NULL. */
static inline const struct vma *maps_at(const struct maps *m, uintptr_t addr)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].start <= addr && addr < m->v[i].end)
            return &m->v[i];
    return NULL;
}

/* One-shot: the protection of the page at addr, or -1 if unmapped. */
static inline int kernel_prot(uintptr_t addr)
{
    struct maps m;
    maps_read(&m, addr, addr + 1);
    const struct vma *v = maps_at(&m, addr);
    int prot = v ? (int)v->prot : -1;
    maps_free(&m);
    return prot;
}

/* How many pages of [start, start + size) are resident. */
static inline size_t resident_pages(uintptr_t start, size_t size)
{
    size_t n = size / ps(), k = 0;
    unsigned char *vec = malloc(n);

    assert_non_null(vec);
    assert_int_equal(mincore((void *)start, size, vec), 0);
    for (size_t i = 0; i < n; i++)
        k += vec[i] & 1;
    free(vec);
    return k;
}

/* A free page-aligned range of `size` bytes, found by asking the kernel. */
static inline uintptr_t free_range(size_t size)
{
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    assert_true(p != MAP_FAILED);
    munmap(p, size);
    return (uintptr_t)p;
}

/*
 * Map size bytes at a free address of the process through `be`.  A range
 * free_range() found can be taken by another mmap() before the backend maps
 * it (mset_map() allocates first, and sanitizer runtimes map memory of their
 * own), which MAP_FIXED_NOREPLACE reports as -EEXIST: then try another range.
 */
static inline uintptr_t map_fresh(mset_t *s, size_t size, unsigned flags,
                                  const struct mset_backend *be)
{
    for (int tries = 0; tries < 16; tries++) {
        uintptr_t at = free_range(size);
        int rc = mset_map(s, at, size, flags, be, NULL, false);
        if (rc == -EEXIST)
            continue;
        assert_int_equal(rc, 0);
        return at;
    }
    fail_msg("no free range of %zu bytes stayed free long enough to map", size);
    return 0;
}

/* ----------------------------------------------------- touching pages */

/*
 * The touch_*() probes ask the hardware what an access does now: some tests
 * touch pages on purpose while another thread maps, unmaps or protects them,
 * and check the outcome (contents or signal) themselves.  ThreadSanitizer
 * models mmap() as a write of the whole range and would call each such probe
 * a race, so the probes are not instrumented.  Only these few loads and
 * stores are exempt; everything else the tests share is atomic or locked.
 */
#define PROBE __attribute__((no_sanitize("thread"), noinline, unused))

static __thread sigjmp_buf *touch_jb;
static __thread volatile sig_atomic_t touch_sig;

static inline void touch_handler(int sig)
{
    touch_sig = sig;
    siglongjmp(*touch_jb, 1);
}

/*
 * Catch SIGSEGV and SIGBUS around one access.  cmocka installs its own
 * handlers around each test, so the touch_*() functions install theirs for
 * the access only and put the previous ones back.
 */
struct touch_guard {
    struct sigaction segv, bus;
};

/* While held (several threads touching), the handler stays installed. */
static struct touch_guard touch_held;
static int touch_holds;

static inline void touch_install(struct touch_guard *g)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = touch_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, &g->segv);
    sigaction(SIGBUS, &sa, &g->bus);
}

static inline void touch_restore(const struct touch_guard *g)
{
    sigaction(SIGSEGV, &g->segv, NULL);
    sigaction(SIGBUS, &g->bus, NULL);
}

/* Call before starting threads that touch pages, and touch_unhold() after
 * joining them: sigaction() is process-wide. */
static inline void touch_hold(void)
{
    touch_install(&touch_held);
    __atomic_store_n(&touch_holds, 1, __ATOMIC_RELEASE);
}

static inline void touch_unhold(void)
{
    __atomic_store_n(&touch_holds, 0, __ATOMIC_RELAXED);
    touch_restore(&touch_held);
}

static inline void touch_begin(struct touch_guard *g)
{
    if (!__atomic_load_n(&touch_holds, __ATOMIC_ACQUIRE))
        touch_install(g);
}

static inline void touch_end(const struct touch_guard *g)
{
    touch_jb = NULL;
    if (!__atomic_load_n(&touch_holds, __ATOMIC_ACQUIRE))
        touch_restore(g);
}

/* Read a byte at p: 0 and *out, or the signal the access raised. */
PROBE static int touch_read(uintptr_t p, unsigned char *out)
{
    struct touch_guard g;
    sigjmp_buf jb;

    touch_begin(&g);
    touch_jb = &jb;
    touch_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        unsigned char v = *(volatile unsigned char *)p;
        if (out)
            *out = v;
    }
    touch_end(&g);
    return touch_sig;
}

/* Read the 8 bytes at p (aligned): 0 and *out, or the signal raised. */
PROBE static int touch_read64(uintptr_t p, uint64_t *out)
{
    struct touch_guard g;
    sigjmp_buf jb;

    touch_begin(&g);
    touch_jb = &jb;
    touch_sig = 0;
    if (sigsetjmp(jb, 1) == 0)
        *out = *(volatile uint64_t *)p;
    touch_end(&g);
    return touch_sig;
}

/* Write v at p: 0, or the signal the access raised. */
PROBE static int touch_write(uintptr_t p, unsigned char v)
{
    struct touch_guard g;
    sigjmp_buf jb;

    touch_begin(&g);
    touch_jb = &jb;
    touch_sig = 0;
    if (sigsetjmp(jb, 1) == 0)
        *(volatile unsigned char *)p = v;
    touch_end(&g);
    return touch_sig;
}

/* Call fn: its result in *out and 0, or the signal the call raised. */
PROBE static int touch_call(uintptr_t fn, int *out)
{
    struct touch_guard g;
    sigjmp_buf jb;

    touch_begin(&g);
    touch_jb = &jb;
    touch_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        int (*f)(void);
        memcpy(&f, &fn, sizeof f);
        *out = f();
    }
    touch_end(&g);
    return touch_sig;
}

/* Run a group; MSET_TEST_FILTER=name (cmocka wildcards) runs only some. */
#define run_group(tests)                                                                           \
    (getenv("MSET_TEST_FILTER") ? cmocka_set_test_filter(getenv("MSET_TEST_FILTER")) : (void)0,    \
     cmocka_run_group_tests(tests, NULL, NULL))

/* ------------------------------------------------------------- fixture */

struct lfx {
    mset_t *s;
    mset_arena_t *a;
    const struct mset_backend *be; /* the arena's */
    uintptr_t base;                /* mset_arena_start() */
};

#define ARENA_PAGES 64

static inline int lfx_setup(void **state)
{
    struct lfx *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    f->s = mset_new(NULL);
    f->a = mset_arena_new(0, ARENA_PAGES * ps(), NULL);
    if (!f->s || !f->a)
        return -1;
    f->be = mset_arena_backend(f->a);
    f->base = mset_arena_start(f->a);
    *state = f;
    return 0;
}

static inline int lfx_teardown(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_clear(f->s), 0);
    assert_int_equal(mset_arena_destroy(f->a), 0);
    mset_destroy(f->s);
    free(f);
    return 0;
}

#define LTEST(fn) cmocka_unit_test_setup_teardown(fn, lfx_setup, lfx_teardown)

/* Page i of the arena. */
#define PG(f, i) ((f)->base + (uintptr_t)(i)*ps())

/* Every page of [start, start + size) has protection `prot` in the kernel
 * (-1: no mapping). */
static inline void assert_kernel_prot_(uintptr_t start, size_t size, int prot, const char *file,
                                       int line)
{
    struct maps m;

    maps_read(&m, start, start + size);
    for (uintptr_t p = start; p < start + size; p += ps()) {
        const struct vma *v = maps_at(&m, p);
        int k = v ? (int)v->prot : -1;
        if (k != prot)
            fprintf(stderr, "%s:%d: page %#lx: kernel prot %d, expected %d\n", file, line,
                    (unsigned long)p, k, prot);
        assert_int_equal(k, prot);
    }
    maps_free(&m);
}
#define assert_kernel_prot(start, size, prot)                                                      \
    assert_kernel_prot_((start), (size), (prot), __FILE__, __LINE__)

/* ------------------------------------------------------------ userfaultfd */

#include <dirent.h>

/* Threads of this process whose name is `name`. */
static inline int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300], comm[64] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread just ended */
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

/* Open file descriptors of this process. */
static inline int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory itself */
}

/*
 * Exit 77 (meson: SKIP) when userfaultfd is not available here, saying why;
 * any other creation failure is a test failure.
 */
static inline void require_uffd(void)
{
    mset_t *s = mset_new(NULL);
    mset_uffd_t *u = mset_uffd_new(s, NULL);
    int err = errno;

    if (!u) {
        mset_destroy(s);
        if (err == ENOSYS || err == EPERM || err == EOPNOTSUPP || err == EACCES) {
            printf("SKIP: userfaultfd unavailable: %s\n", strerror(err));
            exit(77);
        }
        fprintf(stderr, "mset_uffd_new: unexpected %s\n", strerror(err));
        exit(1);
    }
    mset_uffd_destroy(u);
    mset_destroy(s);
}

#endif /* MSET_TESTS_LINUXUTIL_H */
