/* SPDX-License-Identifier: MIT */
/*
 * stress_uffd: faults from several threads while writers map, unmap and
 * protect userfaultfd areas in an arena, arm pages for write tracking and
 * collect the dirty set.
 *
 * Every page's contents are a function of its address and of the key of the
 * area the fill callback was given (udata: unique per mset_map), except its
 * last word, which faulting threads write.  Checks, each failing with the
 * seed, the address and what was expected:
 *   C1 a read that finds the same area (same key) in the set before and
 *      after it sees that area's contents: never another area's, never a
 *      page the kernel zero-filled behind the handler;
 *   C2 with one writer: right after mset_unmap() no page of the range holds
 *      memory (nothing was filled outside a live area, whatever faults were
 *      in flight);
 *   C3 every few hundred operations (one writer), every resident page of a
 *      live readable area holds its area's contents, and no page outside the
 *      areas is resident;
 *   C4 the dirty set reports only pages faulting threads wrote (they write
 *      even pages only), page-aligned and inside the arena;
 *   C5 at the end no fault handler thread is left and nothing is mapped.
 * Faulting threads take SIGSEGV (unmapped or protected pages) in their
 * stride: sigsetjmp/siglongjmp around each access.
 *
 *   stress_uffd [-r faulters] [-w writers] [-t seconds] [-n writer_ops]
 *               [-s seed] [-c arena_pages]
 * Defaults: -r 3 -w 1 -t 10 -n 0 (no bound) -c 256; -s 0 picks a seed from
 * the clock.  Exit 0 if every check held, 1 on a violation, 77 if
 * userfaultfd is unavailable.  Do not use this as a benchmark.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mset.h"

/* ------------------------------------------------------------- options */

static struct {
    int faulters, writers;
    double seconds;
    uint64_t ops, seed;
    int pages;
} opt = {3, 1, 10, 0, 0, 256};

static const char *prog = "stress_uffd";
static atomic_bool stop;
static atomic_flag failing = ATOMIC_FLAG_INIT;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;

    if (atomic_flag_test_and_set(&failing))
        pause(); /* another thread is reporting and will exit */
    fprintf(stderr, "%s: FAILED, seed 0x%016" PRIx64 ": ", prog, opt.seed);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s: replay: %s -r %d -w %d -t %g -n %" PRIu64 " -c %d -s 0x%" PRIx64 "\n",
            prog, prog, opt.faulters, opt.writers, opt.seconds, opt.ops, opt.pages, opt.seed);
    _exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__VA_ARGS__);                                                                     \
    } while (0)

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
    return rnd(r) % n;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- world */

static mset_t *set;
static mset_arena_t *arena;
static mset_uffd_t *uffd;
static const struct mset_backend *be;
static uintptr_t base;
static size_t ps, words;
static atomic_uint_fast64_t next_key = 1;
static atomic_uchar *ever_written; /* per page: a faulting thread wrote it */

static uint64_t pattern(uintptr_t addr, size_t w, uintptr_t key)
{
    return ((uint64_t)addr + w * 8) * 0x9e3779b97f4a7c15ull ^ (key << 17) ^ key;
}

static int fill(void *page, uintptr_t addr, size_t size, const struct mset_area *a, void *arg)
{
    uint64_t *p = page;

    (void)arg;
    for (size_t w = 0; w + 1 < size / 8; w++)
        p[w] = pattern(addr, w, (uintptr_t)a->udata);
    return 0;
}

static uintptr_t page_addr(size_t i)
{
    return base + i * ps;
}

/* ------------------------------------------------------ faulting threads */

static __thread sigjmp_buf *probe_jb;
static __thread volatile sig_atomic_t probe_sig;

static void on_fault(int sig)
{
    if (!probe_jb) {
        /* A fault outside a probe is a real crash: die of it. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    probe_sig = sig;
    siglongjmp(*probe_jb, 1);
}

/*
 * The probes race address-space changes on purpose and check the outcome;
 * ThreadSanitizer models mmap() as a write of the whole range and would
 * call every probe a race, so they are not instrumented.
 */
#define PROBE __attribute__((no_sanitize("thread"), noinline))

PROBE static int probe_read(uintptr_t p, uint64_t *out)
{
    sigjmp_buf jb;

    probe_jb = &jb;
    probe_sig = 0;
    if (sigsetjmp(jb, 1) == 0)
        *out = *(volatile uint64_t *)p;
    probe_jb = NULL;
    return probe_sig;
}

PROBE static int probe_write(uintptr_t p, uint64_t v)
{
    sigjmp_buf jb;

    probe_jb = &jb;
    probe_sig = 0;
    if (sigsetjmp(jb, 1) == 0)
        *(volatile uint64_t *)p = v;
    probe_jb = NULL;
    return probe_sig;
}

struct counts {
    uint64_t reads, checked, writes, signals;
};

static void *faulter(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct rng r = {opt.seed ^ (0x5151515151515151ull * (uint64_t)(id + 1))};
    struct counts *c = calloc(1, sizeof *c);

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t i = below(&r, (uint64_t)opt.pages);
        uintptr_t page = page_addr(i);
        struct mset_area before, after;
        bool b = mset_find(set, page, &before);

        if ((i % 2) == 0 && below(&r, 4) == 0) {
            /* Write the scratch word of an even page (C4 counts on it). */
            atomic_store_explicit(&ever_written[i], 1, memory_order_relaxed);
            if (probe_write(page + (words - 1) * 8, rnd(&r)))
                c->signals++;
            else
                c->writes++;
            continue;
        }
        size_t w = below(&r, words - 1);
        uint64_t v = 0;
        if (probe_read(page + w * 8, &v)) {
            c->signals++;
            continue;
        }
        c->reads++;
        bool a = mset_find(set, page, &after);
        if (b && a && before.udata == after.udata) {
            c->checked++;
            CHECK(v == pattern(page, w, (uintptr_t)before.udata),
                  "C1: page %#lx word %zu reads %#" PRIx64 ", expected %#" PRIx64
                  " (area key %p, found before and after the read)",
                  (unsigned long)page, w, v, pattern(page, w, (uintptr_t)before.udata),
                  before.udata);
        }
    }
    return c;
}

/* --------------------------------------------------------------- writers */

static bool set_flags(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static const unsigned prots[] = {MSET_READ | MSET_WRITE, MSET_READ | MSET_WRITE, MSET_READ, 0};

static void resident(uintptr_t start, size_t len, unsigned char *vec)
{
    CHECK(mincore((void *)start, len, vec) == 0, "mincore(%#lx, %zu): %s", (unsigned long)start,
          len, strerror(errno));
}

/* C3: a sweep of the whole arena; the only writer runs it. */
static void sweep(void)
{
    unsigned char *vec = malloc((size_t)opt.pages);

    resident(base, (size_t)opt.pages * ps, vec);
    for (int i = 0; i < opt.pages; i++) {
        uintptr_t page = page_addr((size_t)i);
        struct mset_area a;
        bool in = mset_find(set, page, &a);
        if (!(vec[i] & 1))
            continue;
        CHECK(in, "C3: page %#lx holds memory but is in no area", (unsigned long)page);
        if (!(a.flags & MSET_READ))
            continue;
        for (size_t w = 0; w + 1 < words; w++) {
            uint64_t v = 0;
            if (probe_read(page + w * 8, &v))
                break; /* cannot happen with one writer; C1 covers the rest */
            CHECK(v == pattern(page, w, (uintptr_t)a.udata),
                  "C3: page %#lx word %zu holds %#" PRIx64 ", expected %#" PRIx64 " (area key %p)",
                  (unsigned long)page, w, v, pattern(page, w, (uintptr_t)a.udata), a.udata);
        }
    }
    free(vec);
}

static void dirty_page(uintptr_t start, size_t size, void *arg)
{
    (void)arg;
    CHECK(start % ps == 0 && size % ps == 0 && size > 0, "C4: dirty run [%#lx, +%zu) unaligned",
          (unsigned long)start, size);
    CHECK(start >= base && start + size <= page_addr((size_t)opt.pages),
          "C4: dirty run [%#lx, +%zu) outside the arena", (unsigned long)start, size);
    for (uintptr_t p = start; p < start + size; p += ps) {
        size_t i = (p - base) / ps;
        CHECK(i % 2 == 0 && atomic_load_explicit(&ever_written[i], memory_order_relaxed),
              "C4: page %#lx reported written, but no thread ever wrote it", (unsigned long)p);
    }
}

static atomic_uint_fast64_t ops_done;

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct rng r = {opt.seed ^ (0xa5a5a5a5a5a5a5a5ull * (uint64_t)(id + 1))};
    bool alone = opt.writers == 1;
    unsigned char *vec = malloc((size_t)opt.pages);
    uint64_t mine = 0;

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t i = below(&r, (uint64_t)opt.pages);
        size_t n = 1 + below(&r, 8);
        if (i + n > (size_t)opt.pages)
            n = (size_t)opt.pages - i;
        uintptr_t start = page_addr(i);
        size_t len = n * ps;
        int rc;

        switch (below(&r, 10)) {
        case 0:
        case 1:
        case 2:
        case 3: {
            uintptr_t key = (uintptr_t)atomic_fetch_add(&next_key, 1);
            unsigned fl = prots[below(&r, 4)];
            rc = mset_map(set, start, len, fl, be, (void *)key, true);
            CHECK(rc == 0, "mset_map(%#lx, %zu, replace): %d", (unsigned long)start, len, rc);
            break;
        }
        case 4:
        case 5:
        case 6:
            rc = mset_unmap(set, start, len);
            CHECK(rc == 0, "mset_unmap(%#lx, %zu): %d", (unsigned long)start, len, rc);
            if (alone) {
                resident(start, len, vec);
                for (size_t k = 0; k < n; k++)
                    CHECK(!(vec[k] & 1),
                          "C2: page %#lx holds memory right after mset_unmap() of [%#lx, +%zu)",
                          (unsigned long)(start + k * ps), (unsigned long)start, len);
            }
            break;
        case 7: {
            unsigned fl = prots[below(&r, 4)];
            rc = mset_protect(set, start, len, set_flags, &fl);
            CHECK(rc == 0, "mset_protect(%#lx, %zu): %d", (unsigned long)start, len, rc);
            break;
        }
        case 8:
            /* Arm a range; -ENOENT if part of it is not a live uffd area. */
            rc = mset_uffd_track_writes(uffd, start, len);
            CHECK(rc == 0 || rc == -ENOENT || rc == -EOPNOTSUPP, "track_writes(%#lx, %zu): %d",
                  (unsigned long)start, len, rc);
            break;
        default:
            rc = mset_uffd_collect_dirty(uffd, below(&r, 2), dirty_page, NULL);
            CHECK(rc == 0, "collect_dirty: %d", rc);
            break;
        }
        mine++;
        uint64_t total = atomic_fetch_add(&ops_done, 1) + 1;
        if (opt.ops && total >= opt.ops)
            atomic_store(&stop, true);
        if (alone && mine % 256 == 0)
            sweep();
    }
    free(vec);
    return NULL;
}

/* ------------------------------------------------------------------ main */

static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d))) {
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [-r faulters] [-w writers] [-t seconds] [-n writer_ops] [-s seed]"
            " [-c arena_pages]\n  defaults: -r 3 -w 1 -t 10 -n 0 (no bound) -c 256;"
            " -s 0 picks a seed\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    int c;

    while ((c = getopt(argc, argv, "r:w:t:n:s:c:h")) != -1) {
        switch (c) {
        case 'r': opt.faulters = atoi(optarg); break;
        case 'w': opt.writers = atoi(optarg); break;
        case 't': opt.seconds = strtod(optarg, NULL); break;
        case 'n': opt.ops = strtoull(optarg, NULL, 0); break;
        case 's': opt.seed = strtoull(optarg, NULL, 0); break;
        case 'c': opt.pages = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || opt.faulters < 0 || opt.writers < 1 || opt.seconds <= 0 || opt.pages < 8)
        usage();
    if (opt.seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct rng r = {(uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                        (uint64_t)getpid() << 32};
        opt.seed = rnd(&r) | 1;
    }
    printf("%s: seed 0x%016" PRIx64 "  faulters %d  writers %d  seconds %g  ops %" PRIu64
           "  pages %d\n",
           prog, opt.seed, opt.faulters, opt.writers, opt.seconds, opt.ops, opt.pages);
    printf("%s: faults from several threads while writers map, unmap, protect, arm and "
           "collect userfaultfd areas\n",
           prog);
    fflush(stdout);

    ps = (size_t)sysconf(_SC_PAGESIZE);
    words = ps / 8;
    set = mset_new(NULL);
    arena = mset_arena_new(0, (size_t)opt.pages * ps, "stress-uffd");
    CHECK(set && arena, "setup: %s", strerror(errno));
    base = mset_arena_start(arena);
    struct mset_uffd_config cfg = {.arena = arena, .fill = fill, .name = "stress-uffd"};
    uffd = mset_uffd_new(set, &cfg);
    if (!uffd) {
        printf("%s: SKIP: userfaultfd unavailable: %s\n", prog, strerror(errno));
        return 77;
    }
    be = mset_uffd_backend(uffd);
    ever_written = calloc((size_t)opt.pages, 1);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    pthread_t *th = calloc((size_t)(opt.faulters + opt.writers), sizeof *th);
    double t0 = now();
    for (int i = 0; i < opt.faulters; i++)
        pthread_create(&th[i], NULL, faulter, (void *)(intptr_t)i);
    for (int i = 0; i < opt.writers; i++)
        pthread_create(&th[opt.faulters + i], NULL, writer, (void *)(intptr_t)i);
    while (!atomic_load(&stop) && now() - t0 < opt.seconds)
        usleep(10 * 1000);
    atomic_store(&stop, true);

    struct counts total = {0};
    for (int i = 0; i < opt.faulters + opt.writers; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        if (i < opt.faulters) {
            struct counts *k = ret;
            total.reads += k->reads;
            total.checked += k->checked;
            total.writes += k->writes;
            total.signals += k->signals;
            free(k);
        }
    }
    double secs = now() - t0;
    if (opt.writers == 1)
        sweep();

    struct mset_uffd_stats st;
    mset_uffd_stats(uffd, &st);
    CHECK(mset_check(set) == 0, "mset_check failed");
    CHECK(mset_clear(set) == 0, "mset_clear failed");
    CHECK(mset_uffd_destroy(uffd) == 0, "mset_uffd_destroy refused with nothing mapped");
    CHECK(threads_named("mset-uffd") == 0, "C5: a fault handler thread is left behind");
    CHECK(mset_arena_destroy(arena) == 0, "C5: pages still mapped in the arena");
    mset_destroy(set);

    printf("%s: %.1f s, %" PRIu64 " writer ops; faulters: %" PRIu64 " reads (%" PRIu64
           " checked), %" PRIu64 " writes, %" PRIu64 " signals\n",
           prog, secs, (uint64_t)atomic_load(&ops_done), total.reads, total.checked, total.writes,
           total.signals);
    printf("%s: handler: %" PRIu64 " faults, %" PRIu64 " filled, %" PRIu64
           " writes reported, %" PRIu64 " woken without a fill\n",
           prog, st.faults, st.filled, st.writes, st.woken);
    printf("%s: all checks held\n", prog);
    free(th);
    free(ever_written);
    return 0;
}
