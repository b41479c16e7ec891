/* SPDX-License-Identifier: MIT */
/*
 * What every stress program shares: the command line, the seed, random
 * numbers, the failure report, the clock and the reader/writer threads.
 *
 * A run is replayable in the sense that matters: the seed fixes the layout
 * and every thread's sequence of random choices, so a failure's command line
 * (printed with the failure) reruns the same workload.  Thread interleaving
 * is the scheduler's; rerun a few times if a failure does not come back.
 */
#ifndef MSET_STRESS_HARNESS_H
#define MSET_STRESS_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mset.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif

/*
 * A full fence, where the stress programs need one to order their own
 * bookkeeping against the calls they check (see stress_churn.c).  GCC
 * rejects atomic_thread_fence() under ThreadSanitizer (-Wtsan); TSan builds
 * run on x86-64, whose TSO already keeps loads in order and stores in order,
 * so there a compiler barrier is enough.
 */
#if defined(__SANITIZE_THREAD__)
#define stress_fence() atomic_signal_fence(memory_order_seq_cst)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define stress_fence() atomic_signal_fence(memory_order_seq_cst)
#endif
#endif
#ifndef stress_fence
#define stress_fence() atomic_thread_fence(memory_order_seq_cst)
#endif

struct stress_opts {
    int readers;     /* -r */
    int writers;     /* -w */
    double seconds;  /* -t: run time bound */
    uint64_t ops;    /* -n: writer operations in total, 0 = no bound */
    uint64_t seed;   /* -s: 0 = pick one from the clock */
    int scale;       /* -c: program-specific size (cells, pool blocks, ...) */
};

/* Parse the command line over the defaults in *o, pick the seed, print the
 * banner.  `what` is one line saying what the program checks. */
void stress_init(int argc, char **argv, struct stress_opts *o, const char *what);

/* Report a violated check and abort: names the seed and the replay command. */
void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond))                                                                        \
            stress_fail(__VA_ARGS__);                                                       \
    } while (0)

/* splitmix64: small, fast, and every seed gives a full-period stream. */
struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* Uniform in [lo, hi], lo <= hi. */
static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* The stream of thread `id` (or of any other user) under the run's seed. */
struct rng stress_rng(uint64_t stream);

/* Whether threads should stop: the time is up, the op budget is spent, or
 * another thread failed. */
static inline bool stress_stopping(void)
{
    extern atomic_bool stress_stop_flag;

    return atomic_load_explicit(&stress_stop_flag, memory_order_relaxed);
}

/* A writer finished one operation (counts against -n). */
void stress_op_done(void);

/* Run o->readers threads of reader(arg, i) and o->writers threads of
 * writer(arg, i) until stress_stopping(), then join them.  Returns the
 * elapsed seconds. */
double stress_run(const struct stress_opts *o, void *(*reader)(void *arg, int id),
                  void *(*writer)(void *arg, int id), void *arg);

double stress_now(void);

/* Every area of s, in order, for the final checks of a quiescent set: a
 * calloc'ed array the caller frees; fails the run past `cap` areas. */
struct stress_areas {
    struct mset_area *a;
    size_t n;
};
struct stress_areas stress_collect(mset_t *s, size_t cap);

#endif /* MSET_STRESS_HARNESS_H */
