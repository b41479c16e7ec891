/* SPDX-License-Identifier: MIT */
/*
 * mset-bench: the standard workload of issue 5 on mset and on the baselines,
 * in one process and one run, so that every figure has its baseline beside it.
 *
 *   Layout   N areas of 4 pages every 5 pages from 0x10000000, built in
 *            address order, no-op backend.
 *   Single-thread workloads (find, churn, split churn, find_free_area): each
 *            implementation calibrates its operation count to the target trial
 *            time (that run is its warm-up), then trials run interleaved,
 *            implementations in rotating order, each trial on its own fixed
 *            xorshift64 seed shared by all implementations.
 *   Concurrency: threads run for a fixed time after a common start; each
 *            counts its operations and reads its own clock.
 *   Memory:  live bytes of a counting allocator after the layout is built.
 * Every figure is the median of the trials, with the spread (max - min) /
 * median beside it.  Nothing is pinned: the machine is what it is, which is
 * why baselines run interleaved in the same process.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results.h"

int bench_check(uint64_t seed, uint64_t ops);

typedef struct loop_sum (*loop_fn)(void *h, const struct layout *L, uint64_t *rng, uint64_t n);

static loop_fn loop_of(const struct impl *im, enum metric m)
{
    switch (m) {
    case M_FIND:
        return im->find_loop;
    case M_CHURN:
        return im->churn_loop;
    case M_SPLIT:
        return im->split_loop;
    case M_FFA:
        return im->ffa_loop;
    default:
        return NULL;
    }
}

static uint64_t trial_seed(const struct bench *b, unsigned m, unsigned t)
{
    uint64_t s = b->seed ^ ((uint64_t)(m + 1) * 0x9e3779b97f4a7c15ull) ^
                 ((uint64_t)(t + 1) * 0xc2b2ae3d27d4eb4full);
    return s ? s : 1;
}

/* ------------------------------------------------- disturbance detection */

/*
 * The machine is shared, and CPU is divided fairly between sessions
 * (autogroup), so another engineer's build can take half of a trial.  Such a
 * trial is re-run (in --full mode: up to MAX_RERUNS times each and
 * RERUN_BUDGET in all, so that a busy machine cannot stretch the run for
 * long; quick mode only counts them) and counted:
 *   - a single-thread trial is disturbed if its thread was on a CPU less than
 *     90% of its wall time (thread CPU clock: exact);
 *   - a concurrency trial is disturbed if other processes (or the
 *     hypervisor) used more CPU time during it than its threads left free
 *     (CPUs minus threads), plus 10% of one CPU and 5 clock ticks of slack:
 *     busy time from /proc/stat minus this process's CPU time.  Its own
 *     threads' CPU shares cannot tell, since a thread blocked on a
 *     baseline's lock is legitimately off the CPU.
 */
#define MAX_RERUNS 4
#define RERUN_BUDGET 300

/* Another try for a disturbed trial?  Counts it either way. */
static bool rerun_disturbed(struct bench *b, int reruns_so_far)
{
    if (!b->full || reruns_so_far == MAX_RERUNS || b->reruns == RERUN_BUDGET) {
        b->kept_disturbed++;
        return false;
    }
    b->reruns++;
    return true;
}

static double cpu_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Busy seconds of all CPUs since boot (user, nice, system, irq, softirq,
 * steal), or -1 if /proc/stat cannot be read. */
static double machine_busy_s(void)
{
    unsigned long long u, n, sy, id, io, irq, sirq, st;
    FILE *f = fopen("/proc/stat", "r");
    int k = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy, &id, &io,
                       &irq, &sirq, &st)
              : 0;

    if (f)
        fclose(f);
    if (k != 8)
        return -1;
    return (double)(u + n + sy + irq + sirq + st) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what, const struct impl *im, size_t n)
{
    fprintf(stderr, "mset-bench: %s failed for %s at N = %zu\n", what, im->name, n);
    exit(1);
}

/* ------------------------------------------------------------- the layout */

static void build(const struct impl *im, void *h, const struct layout *L)
{
    for (size_t i = 0; i < L->n; i++)
        if (im->map(h, area_start(L, i), L->area, MSET_READ | MSET_WRITE, &bench_noop_backend, NULL,
                    false))
            die("building the layout", im, L->n);
}

struct layout_walk {
    const struct layout *L;
    size_t i;
};

static int layout_area(const struct mset_area *a, void *arg)
{
    struct layout_walk *w = arg;
    uintptr_t s = area_start(w->L, w->i++);

    return a->start != s || a->end != s + w->L->area || a->flags != (MSET_READ | MSET_WRITE);
}

/* After churn the set must again be exactly the layout. */
static void verify_layout(const struct impl *im, void *h, const struct layout *L, const char *after)
{
    struct layout_walk w = { L, 0 };

    if (im->foreach(h, layout_area, &w) || w.i != L->n || im->len(h) != L->n || im->check(h)) {
        fprintf(stderr, "mset-bench: %s no longer holds the layout after %s (N = %zu)\n", im->name,
                after, L->n);
        exit(1);
    }
}

/* ------------------------------------------------- single-thread workloads */

/* The same lookups on every implementation must give the same answers. */
static void cross_check(struct bench *b, void **h, enum metric m)
{
    struct loop_sum ref = { 0 };

    for (size_t i = 0; i < b->ni; i++) {
        uint64_t rng = trial_seed(b, m, 999);
        struct loop_sum s = loop_of(b->impls[i], m)(h[i], &b->layout, &rng, 4096);
        if (s.fails)
            die(metric_info[m].key, b->impls[i], b->layout.n);
        if (i == 0)
            ref = s;
        else if (s.hits != ref.hits || s.sum != ref.sum)
            die("agreeing with mset on the same lookups", b->impls[i], b->layout.n);
    }
}

static void run_single(struct bench *b, size_t si, void **h, enum metric m)
{
    uint64_t nops[MAX_IMPLS];
    const struct layout *L = &b->layout;

    for (size_t i = 0; i < b->ni; i++) {
        /* Calibrate (and warm up): grow the batch until it takes 2 ms. */
        loop_fn fn = loop_of(b->impls[i], m);
        uint64_t rng = trial_seed(b, m, 1000), n = 16, dt;
        for (;;) {
            uint64_t t0 = now_ns();
            if (fn(h[i], L, &rng, n).fails)
                die(metric_info[m].key, b->impls[i], L->n);
            dt = now_ns() - t0;
            if (dt >= 2000000 || n >= (1u << 30))
                break;
            n *= 4;
        }
        double per = (double)dt / (double)n;
        nops[i] = (uint64_t)(b->single_ms * 1e6 / per);
        if (nops[i] < 16)
            nops[i] = 16;
    }
    for (int t = 0; t < b->trials; t++) {
        for (size_t k = 0; k < b->ni; k++) {
            size_t i = (k + (size_t)t) % b->ni;
            uint64_t dt;
            for (int rerun = 0;; rerun++) {
                uint64_t rng = trial_seed(b, m, (unsigned)t);
                double c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
                uint64_t t0 = now_ns();
                struct loop_sum s = loop_of(b->impls[i], m)(h[i], L, &rng, nops[i]);
                dt = now_ns() - t0;
                double on_cpu = (cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / (double)dt;
                if (s.fails)
                    die(metric_info[m].key, b->impls[i], L->n);
                if (on_cpu >= 0.9 || !rerun_disturbed(b, rerun))
                    break;
            }
            struct stat *st = &b->res[si][i][m];
            st->v[st->n++] = (double)dt / (double)nops[i];
        }
    }
}

/* ------------------------------------------------------------- concurrency */

struct worker {
    const struct impl *im;
    void *h;
    const struct layout *L;
    uint64_t rng;
    bool writer;
    pthread_barrier_t *start;
    const int *stop;
    uint64_t ops, ns, cpu_ns, fails;
    pthread_t tid;
};

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    /* Warm up (and, for mset, register with RCU) before the common start. */
    if (w->writer)
        w->fails += w->im->churn_loop(w->h, w->L, &w->rng, 64).fails;
    else
        w->im->find_loop(w->h, w->L, &w->rng, 4096);
    pthread_barrier_wait(w->start);
    uint64_t t0 = now_ns(), c0 = thread_cpu_ns();
    /* Relaxed: only a signal to stop; the counters are read after join. */
    while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
        if (w->writer) {
            w->fails += w->im->churn_loop(w->h, w->L, &w->rng, 4).fails;
            w->ops += 4;
        } else {
            w->im->find_loop(w->h, w->L, &w->rng, 512);
            w->ops += 512;
        }
    }
    w->ns = now_ns() - t0;
    w->cpu_ns = thread_cpu_ns() - c0;
    return NULL;
}

/* Run nreaders readers and maybe one churning writer for conc_ms.  Returns
 * the readers' total Mlookups/s; *wk gets the writer's Kops/s, *cpu the
 * readers' mean share of the time they spent on a CPU (the rest they were
 * preempted or blocked), *disturbed whether other processes took CPU time
 * meanwhile. */
static double run_threads(struct bench *b, size_t i, void *h, int nreaders, bool writer,
                          unsigned seed_tag, double *wk, double *cpu, bool *disturbed)
{
    struct worker w[3];
    int nt = nreaders + writer, stop = 0;
    pthread_barrier_t start;

    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int k = 0; k < nt; k++) {
        w[k] = (struct worker){ .im = b->impls[i], .h = h, .L = &b->layout,
                                .rng = trial_seed(b, 100 + (unsigned)k, seed_tag),
                                .writer = k == nreaders, .start = &start, .stop = &stop };
        if (pthread_create(&w[k].tid, NULL, worker_main, &w[k]))
            die("pthread_create", b->impls[i], b->layout.n);
    }
    double busy0 = machine_busy_s(), self0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    pthread_barrier_wait(&start);
    struct timespec d = { .tv_sec = (time_t)(b->conc_ms / 1000),
                          .tv_nsec = (long)((b->conc_ms - 1000 * (double)(time_t)(b->conc_ms / 1000)) * 1e6) };
    nanosleep(&d, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    double mops = 0;
    *cpu = 0;
    for (int k = 0; k < nt; k++) {
        pthread_join(w[k].tid, NULL);
        if (w[k].fails)
            die("churn under readers", b->impls[i], b->layout.n);
        if (w[k].writer)
            *wk = (double)w[k].ops / (double)w[k].ns * 1e6;
        else
            mops += (double)w[k].ops / (double)w[k].ns * 1e3,
            *cpu += 100.0 * (double)w[k].cpu_ns / (double)w[k].ns / nreaders;
    }
    pthread_barrier_destroy(&start);
    double busy1 = machine_busy_s(), others = busy1 - busy0 - (cpu_s(CLOCK_PROCESS_CPUTIME_ID) - self0);
    long spare = sysconf(_SC_NPROCESSORS_ONLN) - nt;
    double dur = b->conc_ms / 1000;
    *disturbed = busy0 >= 0 && busy1 >= 0 &&
                 others > (double)(spare > 0 ? spare : 0) * dur + 0.1 * dur +
                              5.0 / (double)sysconf(_SC_CLK_TCK);
    return mops;
}

/* run_threads(), re-run while other processes disturb it. */
static double run_threads_clean(struct bench *b, size_t i, void *h, int nreaders, bool writer,
                                unsigned seed_tag, double *wk, double *cpu)
{
    for (int rerun = 0;; rerun++) {
        bool disturbed;
        double mops = run_threads(b, i, h, nreaders, writer, seed_tag, wk, cpu, &disturbed);
        if (!disturbed || !rerun_disturbed(b, rerun))
            return mops;
    }
}

static void run_concurrency(struct bench *b, size_t si, void **h)
{
    for (int t = 0; t < b->trials; t++) {
        for (size_t k = 0; k < b->ni; k++) {
            size_t i = (k + (size_t)t) % b->ni;
            struct stat *r = b->res[si][i];
            double wk = 0, cpu;
            r[M_READ1].v[r[M_READ1].n++] = run_threads_clean(b, i, h[i], 1, false, (unsigned)t, &wk, &cpu);
            r[M_READ1_CPU].v[r[M_READ1_CPU].n++] = cpu;
            r[M_READ2].v[r[M_READ2].n++] = run_threads_clean(b, i, h[i], 2, false, (unsigned)t, &wk, &cpu);
            r[M_READW].v[r[M_READW].n++] = run_threads_clean(b, i, h[i], 1, true, (unsigned)t, &wk, &cpu);
            r[M_READW_CPU].v[r[M_READW_CPU].n++] = cpu;
            r[M_WRITEW].v[r[M_WRITEW].n++] = wk;
        }
    }
}

/* ------------------------------------------------------------------ driver */

static void run_size(struct bench *b, size_t si)
{
    void *h[MAX_IMPLS];
    struct counting_alloc ca[MAX_IMPLS];
    struct mset_allocator al[MAX_IMPLS];
    struct layout *L = &b->layout;

    L->n = b->sizes[si];
    for (size_t i = 0; i < b->ni; i++) {
        ca[i] = (struct counting_alloc){ 0 };
        al[i] = counting_allocator(&ca[i]);
        if (!(h[i] = b->impls[i]->create(NULL, &al[i])))
            die("create", b->impls[i], L->n);
        build(b->impls[i], h[i], L);
        verify_layout(b->impls[i], h[i], L, "building");
        struct stat *r = b->res[si][i];
        r[M_MEM].v[r[M_MEM].n++] = (double)__atomic_load_n(&ca[i].live, __ATOMIC_RELAXED) / (double)L->n;
        r[M_MEMU].v[r[M_MEMU].n++] =
            (double)__atomic_load_n(&ca[i].live_usable, __ATOMIC_RELAXED) / (double)L->n;
    }
    static const enum metric single[] = { M_FIND, M_FFA, M_CHURN, M_SPLIT };
    for (size_t k = 0; k < sizeof single / sizeof single[0]; k++) {
        if (single[k] == M_FIND || single[k] == M_FFA)
            cross_check(b, h, single[k]);
        run_single(b, si, h, single[k]);
    }
    for (size_t i = 0; i < b->ni; i++)
        verify_layout(b->impls[i], h[i], L, "churn");
    run_concurrency(b, si, h);
    for (size_t i = 0; i < b->ni; i++) {
        verify_layout(b->impls[i], h[i], L, "concurrent churn");
        b->impls[i]->destroy(h[i]);
        for (int m = 0; m < M_COUNT; m++)
            stat_finish(&b->res[si][i][m]);
    }
}

static void usage(FILE *f)
{
    fputs("usage: mset-bench [--full] [--json FILE] [--trials K] [--sizes N,N,...] [--seed S]\n"
          "       mset-bench --check [OPS] [--seed S]\n"
          "  (default)     quick: N = 1000, 10000, 100000; 5 trials (under 30 s on 2 cores)\n"
          "  --full        N up to 1000000, 11 trials, longer trials\n"
          "  --json FILE   also write every figure, with every trial, to FILE\n"
          "  --check       compare the baselines with mset on random operations, then exit\n",
          f);
}

static bool parse_sizes(struct bench *b, const char *s)
{
    b->nsizes = 0;
    while (*s && b->nsizes < MAX_SIZES) {
        char *end;
        unsigned long long v = strtoull(s, &end, 0);
        if (end == s || v == 0)
            return false;
        b->sizes[b->nsizes++] = (size_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return b->nsizes > 0;
}

int main(int argc, char **argv)
{
    static struct bench b = {
        .trials = 5, .sizes = { 1000, 10000, 100000 }, .nsizes = 3, .seed = 0x5eed5eed5eedull,
        .single_ms = 20, .conc_ms = 100,
        .layout = { .base = 0x10000000, .area = 4 * PAGE, .stride = 5 * PAGE },
    };
    const char *json = NULL;
    bool check = false, trials_set = false, sizes_set = false;
    uint64_t check_ops = 200000;

    for (int a = 1; a < argc; a++) {
        const char *o = argv[a];
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(o, "--full")) {
            b.full = true;
        } else if (!strcmp(o, "--json") && v) {
            json = v, a++;
        } else if (!strcmp(o, "--trials") && v) {
            b.trials = atoi(v), a++, trials_set = true;
            if (b.trials < 1 || b.trials > MAX_TRIALS) {
                fprintf(stderr, "mset-bench: --trials must be 1..%d\n", MAX_TRIALS);
                return 2;
            }
        } else if (!strcmp(o, "--sizes") && v) {
            if (!parse_sizes(&b, v)) {
                fprintf(stderr, "mset-bench: bad --sizes %s\n", v);
                return 2;
            }
            a++, sizes_set = true;
        } else if (!strcmp(o, "--seed") && v) {
            b.seed = strtoull(v, NULL, 0), a++;
        } else if (!strcmp(o, "--check")) {
            check = true;
            if (v && *v >= '0' && *v <= '9')
                check_ops = strtoull(v, NULL, 0), a++;
        } else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (check)
        return bench_check(b.seed, check_ops);

    if (b.full) {
        if (!trials_set)
            b.trials = 11;
        if (!sizes_set)
            b.sizes[b.nsizes++] = 1000000;
        b.single_ms = 50;
        b.conc_ms = 300;
    }
    b.impls = bench_impls;
    b.ni = bench_nimpls < MAX_IMPLS ? bench_nimpls : MAX_IMPLS;
    if (getloadavg(b.load_start, 3) < 0)
        memset(b.load_start, 0, sizeof b.load_start);
    b.t_start = now_ns();
    report_header(&b);
    for (size_t si = 0; si < b.nsizes; si++) {
        run_size(&b, si);
        report_size(&b, si);
    }
    b.t_end = now_ns();
    if (getloadavg(b.load_end, 3) < 0)
        memset(b.load_end, 0, sizeof b.load_end);
    report_targets(&b);
    if (json && report_json(&b, json))
        return 1;
    return 0;
}
