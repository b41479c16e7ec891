/* SPDX-License-Identifier: MIT */
/* mset-bench's output: the table, the targets of issue 5, and the JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results.h"

static long sysconf_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

const struct metric_info metric_info[M_COUNT] = {
    [M_FIND] = { .key = "find_ns", .label = "find", .unit = "ns/lookup", .higher_better = false },
    [M_CHURN] = { .key = "churn_ns", .label = "churn (unmap + map)", .unit = "ns/op", .higher_better = false },
    [M_SPLIT] = { .key = "split_churn_ns", .label = "split churn (3 calls)", .unit = "ns/op", .higher_better = false },
    [M_FFA] = { .key = "find_free_area_ns", .label = "find_free_area, worst", .unit = "ns/call", .higher_better = false },
    [M_READ1] = { .key = "reader_alone_mops", .label = "reader alone", .unit = "Mlookup/s", .higher_better = true },
    [M_READ2] = { .key = "two_readers_mops", .label = "2 readers, total", .unit = "Mlookup/s", .higher_better = true },
    [M_READW] = { .key = "reader_with_writer_mops", .label = "reader + churning writer", .unit = "Mlookup/s", .higher_better = true },
    [M_WRITEW] = { .key = "writer_with_reader_kops", .label = "writer churn + 1 reader", .unit = "Kop/s", .higher_better = true },
    [M_READ1_CPU] = { .key = "reader_alone_on_cpu_pct", .label = "  reader on CPU, alone", .unit = "% of time", .higher_better = true, .context = true },
    [M_READW_CPU] = { .key = "reader_with_writer_on_cpu_pct", .label = "  reader on CPU, churn", .unit = "% of time", .higher_better = true, .context = true },
    [M_MEM] = { .key = "bytes_per_area", .label = "memory", .unit = "bytes/area", .higher_better = false },
    [M_MEMU] = { .key = "usable_bytes_per_area", .label = "memory, malloc usable", .unit = "bytes/area", .higher_better = false },
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void stat_finish(struct stat *s)
{
    double v[MAX_TRIALS];

    if (s->n == 0)
        return;
    memcpy(v, s->v, (size_t)s->n * sizeof v[0]);
    qsort(v, (size_t)s->n, sizeof v[0], cmp_double);
    s->min = v[0];
    s->max = v[s->n - 1];
    s->med = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static const char *fmt(char *buf, double v)
{
    snprintf(buf, 32, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    return buf;
}

static double spread_pct(const struct stat *s)
{
    return s->med > 0 ? 100 * (s->max - s->min) / s->med : 0;
}

/* Reader throughput under a churning writer, as a share of it alone. */
static double churn_share(const struct stat *r)
{
    return r[M_READ1].med > 0 ? 100 * r[M_READW].med / r[M_READ1].med : 0;
}

static size_t size_index(const struct bench *b, size_t n)
{
    for (size_t i = 0; i < b->nsizes; i++)
        if (b->sizes[i] == n)
            return i;
    return SIZE_MAX;
}

void report_header(const struct bench *b)
{
    const struct layout *L = &b->layout;

    printf("mset-bench (%s): the standard workload of issue 5\n", b->full ? "full" : "quick");
    printf("  layout   N areas of %zu KiB every %zu KiB from %#lx, built in address order;"
           " no-op backend\n",
           L->area / 1024, L->stride / 1024, (unsigned long)L->base);
    printf("  figures  median of %d trials, implementations interleaved; spread = (max - min) / "
           "median;\n           %s\n",
           b->trials,
           b->full ? "a trial disturbed by other processes is re-run (up to 4 times, 300 in all)"
                   : "trials disturbed by other processes are counted at the end, not re-run");
    printf("  ratio    mset median / baseline median: below 1 is better for ns and bytes, above 1"
           " for throughput\n");
    printf("  impls   ");
    for (size_t i = 0; i < b->ni; i++)
        printf(" %s%s%s%s", b->impls[i]->name, b->impls[i]->is_mset ? " (read side " : "",
               b->impls[i]->is_mset ? b->impls[i]->flavour : "", b->impls[i]->is_mset ? ")" : "");
    printf("; baselines: libbsd red-black tree with subtree gaps + one lock\n");
    printf("  machine  %ld CPUs online, load average %.2f %.2f %.2f at start\n",
           sysconf_cpus(), b->load_start[0], b->load_start[1], b->load_start[2]);
    fflush(stdout);
}

void report_size(const struct bench *b, size_t si)
{
    char v[32];

    printf("\nN = %-10zu %-12s", b->sizes[si], "");
    for (size_t i = 0; i < b->ni; i++)
        printf(" %16s", b->impls[i]->name);
    for (size_t i = 0; i < b->ni; i++)
        for (size_t j = 0; j < b->ni; j++)
            if (b->impls[i]->is_mset && !b->impls[j]->is_mset) {
                char name[64];
                snprintf(name, sizeof name, "%s/%s", b->impls[i]->name, b->impls[j]->name);
                printf(" %15s", name);
            }
    printf("\n");
    for (int m = 0; m < M_COUNT; m++) {
        printf("%-25s %-11s", metric_info[m].label, metric_info[m].unit);
        for (size_t i = 0; i < b->ni; i++) {
            const struct stat *s = &b->res[si][i][m];
            if (s->n > 1)
                printf(" %10s %4.0f%%", fmt(v, s->med), spread_pct(s));
            else
                printf(" %10s %5s", fmt(v, s->med), "");
        }
        for (size_t i = 0; i < b->ni; i++)
            for (size_t j = 0; j < b->ni; j++)
                if (b->impls[i]->is_mset && !b->impls[j]->is_mset) {
                    double base = b->res[si][j][m].med;
                    if (metric_info[m].context)
                        printf(" %15s", "");
                    else
                        printf(" %15.2f", base > 0 ? b->res[si][i][m].med / base : 0);
                }
        printf("\n");
        if (m == M_READW) {
            printf("%-25s %-11s", "  reader under churn", "% of alone");
            for (size_t i = 0; i < b->ni; i++)
                printf(" %10.0f %5s", churn_share(b->res[si][i]), "");
            printf("\n");
        }
    }
    fflush(stdout);
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

void report_targets(const struct bench *b)
{
    size_t s10k = size_index(b, 10000), s100k = size_index(b, 100000);
    const struct impl *rw = NULL;
    size_t irw = 0;

    for (size_t j = 0; j < b->ni; j++)
        if (!strcmp(b->impls[j]->name, "rb+rwlock"))
            rw = b->impls[j], irw = j;
    printf("\nTargets of issue 5 (benchmark figures, not assertions)\n");
    for (size_t i = 0; i < b->ni; i++) {
        if (!b->impls[i]->is_mset)
            continue;
        const char *nm = b->impls[i]->name;
        if (s10k != SIZE_MAX) {
            double f = b->res[s10k][i][M_FIND].med;
            printf("  %-8s find at N = 10000 <= 40 ns:                   %9.1f ns        %s\n", nm, f,
                   verdict(f <= 40));
        }
        if (rw) {
            double worst = 0;
            size_t wn = 0;
            for (size_t si = 0; si < b->nsizes; si++) {
                double r = b->res[si][i][M_FIND].med / b->res[si][irw][M_FIND].med;
                if (r > worst)
                    worst = r, wn = b->sizes[si];
            }
            printf("  %-8s find no slower than rb+rwlock at any N:      worst ratio %.2f (N = %zu)  %s\n",
                   nm, worst, wn, verdict(worst <= 1));
        }
        double share = 1e9;
        size_t sn = 0;
        for (size_t si = 0; si < b->nsizes; si++) {
            double r = churn_share(b->res[si][i]);
            if (r < share)
                share = r, sn = b->sizes[si];
        }
        printf("  %-8s reader under churn >= 90%% of alone:          worst %.0f%% (N = %zu)      %s\n",
               nm, share, sn, verdict(share >= 90));
        if (s100k != SIZE_MAX) {
            const struct stat *r = b->res[s100k][i];
            printf("  %-8s churn at N = 100000 <= 2 us per op:          %9.2f us        %s"
                   " (%.2f us per writer call)\n",
                   nm, r[M_CHURN].med / 1000, verdict(r[M_CHURN].med <= 2000), r[M_CHURN].med / 2000);
            printf("  %-8s split churn at N = 100000 <= 2 us per op:    %9.2f us        %s"
                   " (%.2f us per writer call)\n",
                   nm, r[M_SPLIT].med / 1000, verdict(r[M_SPLIT].med <= 2000), r[M_SPLIT].med / 3000);
            printf("  %-8s find_free_area at N = 100000 <= 5 us:        %9.2f us        %s\n", nm,
                   r[M_FFA].med / 1000, verdict(r[M_FFA].med <= 5000));
            printf("  %-8s memory at N = 100000 <= 128 bytes per area:  %9.1f bytes     %s\n", nm,
                   r[M_MEM].med, verdict(r[M_MEM].med <= 128));
        }
    }
    printf("  (an op of churn is one unmap + one map, of split churn two unmaps + one map;\n"
           "   the verdict holds the whole op to the target)\n");
    printf("\nran %.1f s; load average %.2f %.2f %.2f at the end\n"
           "trials disturbed by other processes' CPU use: %u re-run, %u kept (quick mode keeps"
           " them all;\n--full re-runs each up to 4 times, 300 in all)\n",
           (double)(b->t_end - b->t_start) / 1e9, b->load_end[0], b->load_end[1], b->load_end[2],
           b->reruns, b->kept_disturbed);
}

int report_json(const struct bench *b, const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        perror(path);
        return -1;
    }
    const struct layout *L = &b->layout;
    fprintf(f, "{\n  \"tool\": \"mset-bench\",\n  \"mode\": \"%s\",\n  \"trials\": %d,\n",
            b->full ? "full" : "quick", b->trials);
    fprintf(f, "  \"seed\": %llu,\n  \"cpus\": %ld,\n", (unsigned long long)b->seed, sysconf_cpus());
    fprintf(f, "  \"loadavg_start\": [%.2f, %.2f, %.2f],\n  \"loadavg_end\": [%.2f, %.2f, %.2f],\n",
            b->load_start[0], b->load_start[1], b->load_start[2], b->load_end[0], b->load_end[1],
            b->load_end[2]);
    fprintf(f, "  \"seconds\": %.1f,\n  \"trials_rerun\": %u,\n  \"trials_kept_disturbed\": %u,\n",
            (double)(b->t_end - b->t_start) / 1e9, b->reruns, b->kept_disturbed);
    fprintf(f, "  \"layout\": {\"base\": %lu, \"area_bytes\": %zu, \"stride_bytes\": %zu},\n",
            (unsigned long)L->base, L->area, L->stride);
    fprintf(f, "  \"sizes\": [");
    for (size_t si = 0; si < b->nsizes; si++)
        fprintf(f, "%s%zu", si ? ", " : "", b->sizes[si]);
    fprintf(f, "],\n  \"impls\": [");
    for (size_t i = 0; i < b->ni; i++)
        fprintf(f, "%s{\"name\": \"%s\", \"flavour\": \"%s\", \"mset\": %s}", i ? ", " : "",
                b->impls[i]->name, b->impls[i]->flavour, b->impls[i]->is_mset ? "true" : "false");
    fprintf(f, "],\n  \"metrics\": [");
    for (int m = 0; m < M_COUNT; m++)
        fprintf(f, "%s{\"key\": \"%s\", \"unit\": \"%s\", \"higher_is_better\": %s}",
                m ? ", " : "", metric_info[m].key, metric_info[m].unit,
                metric_info[m].higher_better ? "true" : "false");
    fprintf(f, "],\n  \"results\": [\n");
    bool first = true;
    for (size_t si = 0; si < b->nsizes; si++)
        for (size_t i = 0; i < b->ni; i++)
            for (int m = 0; m < M_COUNT; m++) {
                const struct stat *s = &b->res[si][i][m];
                fprintf(f, "%s    {\"n\": %zu, \"impl\": \"%s\", \"metric\": \"%s\", \"median\": %.4g, "
                        "\"min\": %.4g, \"max\": %.4g, \"trials\": [",
                        first ? "" : ",\n", b->sizes[si], b->impls[i]->name, metric_info[m].key,
                        s->med, s->min, s->max);
                for (int t = 0; t < s->n; t++)
                    fprintf(f, "%s%.4g", t ? ", " : "", s->v[t]);
                fprintf(f, "]}");
                first = false;
            }
    fprintf(f, "\n  ],\n  \"derived\": [\n");
    first = true;
    for (size_t si = 0; si < b->nsizes; si++) {
        for (size_t i = 0; i < b->ni; i++) {
            fprintf(f, "%s    {\"n\": %zu, \"impl\": \"%s\", \"metric\": \"reader_under_churn_pct\", "
                    "\"value\": %.4g}",
                    first ? "" : ",\n", b->sizes[si], b->impls[i]->name, churn_share(b->res[si][i]));
            first = false;
            if (!b->impls[i]->is_mset)
                continue;
            for (size_t j = 0; j < b->ni; j++) {
                if (b->impls[j]->is_mset)
                    continue;
                for (int m = 0; m < M_COUNT; m++) {
                    double base = b->res[si][j][m].med;
                    if (metric_info[m].context)
                        continue;
                    fprintf(f, ",\n    {\"n\": %zu, \"impl\": \"%s\", \"baseline\": \"%s\", "
                            "\"metric\": \"%s_ratio\", \"value\": %.4g}",
                            b->sizes[si], b->impls[i]->name, b->impls[j]->name, metric_info[m].key,
                            base > 0 ? b->res[si][i][m].med / base : 0);
                }
            }
        }
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f)) {
        perror(path);
        return -1;
    }
    return 0;
}
