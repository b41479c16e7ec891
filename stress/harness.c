/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_bool stress_stop_flag;

static const char *prog = "stress";
static struct stress_opts opts;
static atomic_ullong ops_done;
static atomic_flag failing = ATOMIC_FLAG_INIT;

double stress_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(const struct stress_opts *d)
{
    fprintf(stderr,
            "usage: %s [-r readers] [-w writers] [-t seconds] [-n writer_ops] [-s seed] [-c scale]\n"
            "  defaults: -r %d -w %d -t %g -n %" PRIu64 " (0: no bound) -c %d; -s 0 picks a seed\n",
            prog, d->readers, d->writers, d->seconds, d->ops, d->scale);
    exit(2);
}

static uint64_t parse_u64(const char *s, const struct stress_opts *d)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);

    if (*s == '\0' || *end != '\0')
        usage(d);
    return v;
}

void stress_init(int argc, char **argv, struct stress_opts *o, const char *what)
{
    const struct stress_opts d = *o;
    int c;

    prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    while ((c = getopt(argc, argv, "r:w:t:n:s:c:h")) != -1) {
        switch (c) {
        case 'r': o->readers = (int)parse_u64(optarg, &d); break;
        case 'w': o->writers = (int)parse_u64(optarg, &d); break;
        case 't': o->seconds = strtod(optarg, NULL); break;
        case 'n': o->ops = parse_u64(optarg, &d); break;
        case 's': o->seed = parse_u64(optarg, &d); break;
        case 'c': o->scale = (int)parse_u64(optarg, &d); break;
        default: usage(&d);
        }
    }
    if (optind != argc || o->readers < 0 || o->writers < 1 || o->scale < 1 || o->seconds <= 0)
        usage(&d);
    if (o->seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct rng r = { (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                         (uint64_t)getpid() << 32 };
        o->seed = rng_next(&r) | 1;
    }
    opts = *o;
    printf("%s: seed 0x%016" PRIx64 "  readers %d  writers %d  seconds %g  ops %" PRIu64
           "  scale %d\n",
           prog, o->seed, o->readers, o->writers, o->seconds, o->ops, o->scale);
    printf("%s: %s\n", prog, what);
    printf("%s: do not use this as a benchmark: every lookup is checked and the checks"
           " dominate\n",
           prog);
    fflush(stdout);
}

void stress_fail(const char *fmt, ...)
{
    va_list ap;

    atomic_store(&stress_stop_flag, true);
    if (atomic_flag_test_and_set(&failing)) {
        /* Another thread is reporting; let it finish and abort. */
        for (;;)
            pause();
    }
    fflush(stdout);
    fprintf(stderr, "%s: FAIL (seed 0x%016" PRIx64 "): ", prog, opts.seed);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s: replay: %s -s 0x%016" PRIx64 " -r %d -w %d -c %d -t %g -n %" PRIu64 "\n",
            prog, prog, opts.seed, opts.readers, opts.writers, opts.scale, opts.seconds, opts.ops);
    abort();
}

struct rng stress_rng(uint64_t stream)
{
    struct rng r = { opts.seed ^ (stream * 0xd1b54a32d192ed03ull) };

    rng_next(&r);
    return r;
}

void stress_op_done(void)
{
    unsigned long long n = atomic_fetch_add_explicit(&ops_done, 1, memory_order_relaxed) + 1;

    if (opts.ops && n >= opts.ops)
        atomic_store(&stress_stop_flag, true);
}

struct thread {
    pthread_t t;
    void *(*fn)(void *arg, int id);
    void *arg;
    int id;
};

static void *trampoline(void *p)
{
    struct thread *t = p;

    return t->fn(t->arg, t->id);
}

double stress_run(const struct stress_opts *o, void *(*reader)(void *arg, int id),
                  void *(*writer)(void *arg, int id), void *arg)
{
    int n = o->readers + o->writers;
    struct thread *t = calloc((size_t)n, sizeof *t);

    if (!t)
        stress_fail("out of memory");
    double t0 = stress_now();
    for (int i = 0; i < n; i++) {
        bool w = i >= o->readers;
        t[i] = (struct thread){ .fn = w ? writer : reader, .arg = arg,
                                .id = w ? i - o->readers : i };
        if (pthread_create(&t[i].t, NULL, trampoline, &t[i]))
            stress_fail("pthread_create failed");
    }
    while (!stress_stopping() && stress_now() - t0 < o->seconds) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&stress_stop_flag, true);
    for (int i = 0; i < n; i++)
        pthread_join(t[i].t, NULL);
    free(t);
    return stress_now() - t0;
}

struct collect {
    struct mset_area *a;
    size_t n, cap;
};

static int collect_cb(const struct mset_area *a, void *arg)
{
    struct collect *c = arg;

    CHECK(c->n < c->cap, "final foreach: more than %zu areas", c->cap);
    c->a[c->n++] = *a;
    return 0;
}

struct stress_areas stress_collect(mset_t *s, size_t cap)
{
    struct collect c = { calloc(cap ? cap : 1, sizeof(struct mset_area)), 0, cap };

    CHECK(c.a, "out of memory");
    CHECK(mset_foreach(s, collect_cb, &c) == 0, "final foreach failed");
    return (struct stress_areas){ c.a, c.n };
}
