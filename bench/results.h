/* SPDX-License-Identifier: MIT */
/* The figures mset-bench collects, and how they are printed (report.c). */
#ifndef MSET_BENCH_RESULTS_H
#define MSET_BENCH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define MAX_TRIALS 64
#define MAX_SIZES 8
#define MAX_IMPLS 8

enum metric {
    M_FIND,
    M_CHURN,
    M_SPLIT,
    M_FFA,
    M_READ1,
    M_READ2,
    M_READW,
    M_WRITEW,
    M_READ1_CPU,
    M_READW_CPU,
    M_MEM,
    M_MEMU,
    M_COUNT
};

struct metric_info {
    const char *key;   /* JSON name */
    const char *label; /* table row */
    const char *unit;
    bool higher_better;
    bool context; /* describes the run, not the implementation: no ratio */
};

extern const struct metric_info metric_info[M_COUNT];

/* Repeated measurements of one figure. */
struct stat {
    int n;
    double v[MAX_TRIALS];
    double med, min, max;
};

void stat_finish(struct stat *s);

struct bench {
    /* options */
    bool full;
    int trials;
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    uint64_t seed;
    double single_ms; /* target duration of one single-thread trial */
    double conc_ms;   /* duration of one concurrency trial */
    /* what ran */
    const struct impl *const *impls;
    size_t ni;
    struct layout layout; /* n is set per size */
    double load_start[3], load_end[3];
    uint64_t t_start, t_end;
    unsigned reruns;         /* trials re-run because other processes took CPU */
    unsigned kept_disturbed; /* still disturbed after MAX_RERUNS re-runs: kept */
    /* figures: res[size index][impl index][metric] */
    struct stat res[MAX_SIZES][MAX_IMPLS][M_COUNT];
};

/* report.c */
void report_header(const struct bench *b);
void report_size(const struct bench *b, size_t si);
void report_targets(const struct bench *b);
int report_json(const struct bench *b, const char *path);

#endif
