/* SPDX-License-Identifier: MIT */
/*
 * mset-replay: replay a real program's address-space history, recorded with
 *   strace -f -e trace=mmap,munmap,mprotect,mremap,madvise -o FILE PROGRAM
 * on a set, and time it against the baselines.
 *
 * Each successful call is applied in log order, lengths rounded up to pages:
 *   mmap      map [returned address, + length) with its protection; MAP_FIXED
 *             replaces what was there.  Without MAP_FIXED the kernel found the
 *             range free: if the set still holds something there (an unmap it
 *             could not see, e.g. by execve or brk), that is counted and
 *             replaced too, so that the set keeps following the kernel.
 *   munmap    unmap the range.
 *   mprotect  set the protection of the areas in the range.
 *   mremap    the old range's protection (from the area at its start) goes
 *             with it: in place, the tail is unmapped or the growth mapped;
 *             moved, the old range is unmapped (unless MREMAP_DONTUNMAP, or
 *             an old size of 0, which duplicates) and the new one mapped.
 *   madvise   changes no area: counted, not replayed.
 * Every thread and process of the log goes into one set: right for a
 * multithreaded program, which is what a JIT runtime is.
 *
 * The parse is done once; the replay is timed alone, on a fresh set each
 * run, for mset and each baseline, with the no-op backend.  --maps compares
 * the final set with the program's /proc/PID/maps taken at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "strace.h"

struct ops {
    struct sc_op *v;
    size_t n, cap;
};

struct replay_stats {
    uint64_t conflicts; /* non-fixed mmap over areas still in the set */
    uint64_t orphans;   /* mremap of a range whose start is in no area */
    uint64_t errors;    /* set operations that failed */
};

/* Open a log, decompressing .gz through gzip. */
static FILE *open_log(const char *path, pid_t *child)
{
    size_t n = strlen(path);

    *child = 0;
    if (n < 3 || strcmp(path + n - 3, ".gz"))
        return fopen(path, "r");
    int fd[2];
    if (pipe(fd))
        return NULL;
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("gzip", "gzip", "-dc", "--", path, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    *child = pid;
    return fdopen(fd[0], "r");
}

static int close_log(FILE *f, pid_t child)
{
    fclose(f);
    if (!child)
        return 0;
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static bool page_up(size_t len, size_t page, size_t *out)
{
    if (len > SIZE_MAX - (page - 1))
        return false;
    *out = (len + page - 1) & ~(page - 1);
    return true;
}

static bool set_flags(unsigned old_flags, unsigned *new_flags, void *arg)
{
    (void)old_flags;
    *new_flags = *(const unsigned *)arg;
    return true;
}

static void map_range(const struct impl *im, void *h, uintptr_t a, size_t len, unsigned prot,
                      bool replace, struct replay_stats *rs)
{
    int rc = im->map(h, a, len, prot, &bench_noop_backend, NULL, replace);
    if (rc == -EEXIST) {
        rs->conflicts++;
        rc = im->map(h, a, len, prot, &bench_noop_backend, NULL, true);
    }
    rs->errors += rc != 0;
}

static void apply(const struct impl *im, void *h, const struct sc_op *op, size_t page,
                  struct replay_stats *rs)
{
    size_t len, new_len;

    if (!page_up(op->len, page, &len) || !page_up(op->new_len, page, &new_len)) {
        rs->errors++;
        return;
    }
    switch (op->kind) {
    case SC_MMAP:
        map_range(im, h, op->addr, len, op->prot, op->fixed, rs);
        break;
    case SC_MUNMAP:
        rs->errors += im->unmap(h, op->addr, len) != 0;
        break;
    case SC_MPROTECT:
        if (len) /* mprotect(addr, 0) succeeds and does nothing */
            rs->errors += im->protect(h, op->addr, len, set_flags, (void *)&op->prot) != 0;
        break;
    case SC_MREMAP: {
        struct mset_area a;
        unsigned prot = 0;
        if (im->find(h, op->addr, &a))
            prot = a.flags;
        else
            rs->orphans++;
        if (op->new_addr == op->addr) {
            if (new_len < len)
                rs->errors += im->unmap(h, op->addr + new_len, len - new_len) != 0;
            else if (new_len > len)
                map_range(im, h, op->addr + len, new_len - len, prot, true, rs);
        } else {
            if (len && !op->dontunmap)
                rs->errors += im->unmap(h, op->addr, len) != 0;
            map_range(im, h, op->new_addr, new_len, prot, true, rs);
        }
        break;
    }
    default:
        break;
    }
}

/* ------------------------------------------------------------ final state */

struct areas {
    struct mset_area *v;
    size_t n, cap;
};

static int collect(const struct mset_area *a, void *arg)
{
    struct areas *v = arg;

    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        struct mset_area *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        v->v = p, v->cap = cap;
    }
    v->v[v->n++] = *a;
    return 0;
}

static bool same_areas(const struct areas *x, const struct areas *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].start != y->v[i].start || x->v[i].end != y->v[i].end ||
            x->v[i].flags != y->v[i].flags)
            return false;
    return true;
}

/* The kernel's mappings from a /proc/PID/maps copy, in address order. */
static int read_maps(const char *path, struct areas *k)
{
    FILE *f = fopen(path, "r");
    char line[4096];

    if (!f) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3 || s >= e)
            continue;
        struct mset_area a = { .start = s, .end = e };
        a.flags = (perms[0] == 'r' ? MSET_READ : 0) | (perms[1] == 'w' ? MSET_WRITE : 0) |
                  (perms[2] == 'x' ? MSET_EXEC : 0);
        if (collect(&a, k)) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

struct agreement {
    uint64_t set, kernel, agree, differ;
};

/* Bytes of the set and of the kernel's map that overlap, by protection. */
static struct agreement compare_maps(const struct areas *s, const struct areas *k)
{
    struct agreement g = { 0 };
    size_t i = 0, j = 0;

    for (size_t x = 0; x < s->n; x++)
        g.set += s->v[x].end - s->v[x].start;
    for (size_t x = 0; x < k->n; x++)
        g.kernel += k->v[x].end - k->v[x].start;
    while (i < s->n && j < k->n) {
        const struct mset_area *a = &s->v[i], *b = &k->v[j];
        uintptr_t lo = a->start > b->start ? a->start : b->start;
        uintptr_t hi = a->end < b->end ? a->end : b->end;
        if (lo < hi) {
            if (a->flags == b->flags)
                g.agree += hi - lo;
            else
                g.differ += hi - lo;
        }
        if (a->end < b->end)
            i++;
        else
            j++;
    }
    return g;
}

/* ------------------------------------------------------------------ main */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fputs("usage: mset-replay [--maps FILE] [--page-size BYTES] [--runs R] TRACE[.gz]\n"
          "  TRACE    strace -f -e trace=mmap,munmap,mprotect,mremap,madvise -o TRACE PROGRAM\n"
          "  --maps   a copy of PROGRAM's /proc/PID/maps at its end: compare protections\n"
          "  --runs   timed replays per implementation (default: at least 5 and 0.3 s)\n",
          f);
}

#define MAX_RUNS 1000
#define MAX_IMPLS_REPLAY 8

int main(int argc, char **argv)
{
    const char *trace = NULL, *maps = NULL;
    size_t page = PAGE;
    int runs = 0;

    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--maps") && a + 1 < argc)
            maps = argv[++a];
        else if (!strcmp(argv[a], "--page-size") && a + 1 < argc)
            page = strtoul(argv[++a], NULL, 0);
        else if (!strcmp(argv[a], "--runs") && a + 1 < argc)
            runs = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h"))
            return usage(stdout), 0;
        else if (argv[a][0] != '-' && !trace)
            trace = argv[a];
        else
            return usage(stderr), 2;
    }
    if (!trace || page == 0 || (page & (page - 1)) || runs < 0 || runs > MAX_RUNS)
        return usage(stderr), 2;

    /* Parse once. */
    pid_t child;
    FILE *f = open_log(trace, &child);
    if (!f) {
        perror(trace);
        return 1;
    }
    static struct strace_parser p;
    struct ops ops = { 0 };
    char *line = NULL;
    size_t cap = 0;
    strace_init(&p);
    while (getline(&line, &cap, f) >= 0) {
        struct sc_op op;
        if (!strace_feed(&p, line, &op) || op.kind == SC_MADVISE)
            continue;
        if (ops.n == ops.cap) {
            ops.cap = ops.cap ? 2 * ops.cap : 1024;
            if (!(ops.v = realloc(ops.v, ops.cap * sizeof *ops.v))) {
                perror("realloc");
                return 1;
            }
        }
        ops.v[ops.n++] = op;
    }
    free(line);
    strace_finish(&p);
    if (close_log(f, child)) {
        fprintf(stderr, "mset-replay: cannot read %s\n", trace);
        return 1;
    }
    const struct strace_stats *st = &p.st;

    /* Replay: timed runs on fresh sets, implementations interleaved. */
    double ns[MAX_IMPLS_REPLAY][MAX_RUNS];
    struct areas final[MAX_IMPLS_REPLAY] = { 0 };
    struct replay_stats rs[MAX_IMPLS_REPLAY] = { 0 };
    size_t ni = bench_nimpls < MAX_IMPLS_REPLAY ? bench_nimpls : MAX_IMPLS_REPLAY;
    uint64_t t_total = 0;
    int r = 0;
    for (; runs ? r < runs : (r < 5 || t_total < 300000000) && r < MAX_RUNS; r++) {
        for (size_t k = 0; k < ni; k++) {
            size_t i = (k + (size_t)r) % ni;
            const struct impl *im = bench_impls[i];
            void *h = im->create(NULL, NULL);
            if (!h) {
                perror("create");
                return 1;
            }
            rs[i] = (struct replay_stats){ 0 };
            uint64_t t0 = now_ns();
            for (size_t o = 0; o < ops.n; o++)
                apply(im, h, &ops.v[o], page, &rs[i]);
            uint64_t dt = now_ns() - t0;
            t_total += dt;
            ns[i][r] = (double)dt / (double)(ops.n ? ops.n : 1);
            final[i].n = 0;
            if (im->foreach(h, collect, &final[i]) || im->check(h)) {
                fprintf(stderr, "mset-replay: %s: inconsistent set after the replay\n", im->name);
                return 1;
            }
            im->destroy(h);
        }
    }
    for (size_t i = 1; i < ni; i++) {
        if (!same_areas(&final[i], &final[0]) || rs[i].conflicts != rs[0].conflicts) {
            fprintf(stderr, "mset-replay: %s ends with other areas than %s\n", bench_impls[i]->name,
                    bench_impls[0]->name);
            return 1;
        }
    }

    printf("mset-replay: %s (page size %zu)\n", trace, page);
    printf("  log lines            %" PRIu64 "\n", st->lines);
    printf("  calls                ");
    for (int k = 0; k < SC_NKINDS; k++)
        printf("%s%s %" PRIu64, k ? ", " : "", sc_names[k], st->calls[k]);
    printf("\n");
    printf("  joined halves        %" PRIu64 " (unfinished/resumed pairs)\n", st->joined);
    printf("  failed calls         %" PRIu64 " (returned an error: not replayed)\n", st->failed);
    printf("  other lines          %" PRIu64 " (signals, exits, other syscalls)\n", st->other);
    printf("  skipped lines        %" PRIu64 " (malformed or truncated)\n", st->malformed);
    printf("  set operations       %zu (madvise changes no area: not replayed)\n", ops.n);
    printf("  mmap over areas      %" PRIu64 " (mmap without MAP_FIXED over areas the set still "
           "held: replaced)\n",
           rs[0].conflicts);
    printf("  mremap of no area    %" PRIu64 "\n", rs[0].orphans);
    printf("  set errors           %" PRIu64 "\n", rs[0].errors);

    printf("\nreplay: median of %d runs, each on a fresh set (spread = (max - min) / median)\n", r);
    double med[MAX_IMPLS_REPLAY];
    for (size_t i = 0; i < ni; i++) {
        qsort(ns[i], (size_t)r, sizeof ns[i][0], cmp_double);
        med[i] = r % 2 ? ns[i][r / 2] : (ns[i][r / 2 - 1] + ns[i][r / 2]) / 2;
        printf("  %-12s %8.2f Mop/s  %8.1f ns/op  spread %3.0f%%\n", bench_impls[i]->name,
               1e3 / med[i], med[i], 100 * (ns[i][r - 1] - ns[i][0]) / med[i]);
    }
    for (size_t i = 0; i < ni; i++)
        for (size_t j = 0; j < ni; j++)
            if (bench_impls[i]->is_mset && !bench_impls[j]->is_mset)
                printf("  throughput ratio %s/%s: %.2f\n", bench_impls[i]->name, bench_impls[j]->name,
                       med[j] / med[i]);

    uint64_t bytes = 0;
    for (size_t x = 0; x < final[0].n; x++)
        bytes += final[0].v[x].end - final[0].v[x].start;
    printf("\nfinal areas: %zu\n", final[0].n);
    printf("final bytes: %" PRIu64 " (%" PRIu64 " pages)\n", bytes, bytes / page);

    if (maps) {
        struct areas k = { 0 };
        if (read_maps(maps, &k))
            return 1;
        struct agreement g = compare_maps(&final[0], &k);
        printf("\nmaps: %s (%zu kernel mappings)\n", maps, k.n);
        printf("  pages in the replayed areas          %" PRIu64 "\n", g.set / page);
        printf("  agree with the kernel's protections  %" PRIu64 " (%.2f%%)\n", g.agree / page,
               g.set ? 100.0 * (double)g.agree / (double)g.set : 0);
        printf("  other protection in the kernel       %" PRIu64 "\n", g.differ / page);
        printf("  not mapped in the kernel             %" PRIu64 "\n",
               (g.set - g.agree - g.differ) / page);
        printf("  kernel pages outside the replay      %" PRIu64
               " (mapped by execve, brk, the kernel: never in the log)\n",
               (g.kernel - g.agree - g.differ) / page);
        free(k.v);
    }
    for (size_t i = 0; i < ni; i++)
        free(final[i].v);
    free(ops.v);
    return 0;
}
