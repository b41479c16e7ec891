/* SPDX-License-Identifier: MIT */
/*
 * stress_lifecycle: sets are born, churned, cleared and destroyed while
 * readers use them; reader threads come and go.
 *
 * Each writer runs rounds on a set of its own:
 *   mset_new_with_allocator()  (a counting allocator)
 *   -> publish the set to readers
 *   -> random map / unmap / protect, every result predicted from a model
 *      and the backend's page table checked after each operation
 *   -> mset_clear() (sometimes in the middle of a round, then churn goes on)
 *   -> retract the set, wait until no reader holds it
 *   -> mset_destroy(), then the allocator must balance: as many frees as
 *      allocations, each with the size it was allocated with.
 * So mset_destroy() is checked to wait for every call_rcu batch of its set
 * while other sets keep queueing theirs (a free arriving after destroy, or
 * never, unbalances the count; ASan reports a batch that touches a freed set).
 *
 * Readers take a writer's current set (reference count, so destroy waits for
 * them) and check every call: found areas are areas the writer can make
 * (R2), contain the address, foreach is sorted and non-overlapping (R3), and
 * find_free_area answers inside its window and outside every area it can
 * see.  Some lookups run in threads created for a hundred calls and then
 * exiting: liburcu-bp registers them on first use and unregisters them at
 * exit, concurrently with writers' grace periods.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mset.h"

#define UNIT ((uintptr_t)0x100)
#define UNITS 96u /* per set */
#define BASE ((uintptr_t)0x30000000)

/* ------------------------------------------------------- counting allocator */

struct acct {
    atomic_llong allocs, frees, bytes;
};

struct hdr {
    size_t size;
    uint64_t magic;
    max_align_t pad[]; /* keeps the payload aligned */
};

#define MAGIC 0x6d7365746d656d31ull

static void *acct_alloc(void *ctx, size_t size)
{
    struct acct *a = ctx;
    struct hdr *h = malloc(sizeof *h + size);

    if (!h)
        return NULL;
    h->size = size;
    h->magic = MAGIC;
    atomic_fetch_add(&a->allocs, 1);
    atomic_fetch_add(&a->bytes, (long long)size);
    return h + 1;
}

/* Runs in writer threads and in liburcu's call_rcu thread. */
static void acct_free(void *ctx, void *p, size_t size)
{
    struct acct *a = ctx;
    struct hdr *h = (struct hdr *)p - 1;

    CHECK(h->magic == MAGIC && h->size == size,
          "free of %p with size %zu: allocated with size %zu (magic %#" PRIx64 ")", p, size,
          h->size, h->magic);
    h->magic = 0;
    atomic_fetch_add(&a->frees, 1);
    atomic_fetch_sub(&a->bytes, (long long)size);
    free(h);
}

/* ---------------------------------------------------------------- backend */

struct ptab {
    uintptr_t base;
    bool mapped[UNITS];
    unsigned flags[UNITS];
};

static int pt_map(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                  unsigned flags)
{
    struct ptab *pt = p;

    (void)be;
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        unsigned u = (unsigned)((a - pt->base) / UNIT);
        CHECK(u < UNITS && !pt->mapped[u], "backend map over %#" PRIxPTR, a);
        pt->mapped[u] = true;
        pt->flags[u] = flags;
    }
    return 0;
}

static int pt_unmap(const struct mset_backend *be, void *p, uintptr_t start, size_t size)
{
    struct ptab *pt = p;

    (void)be;
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        unsigned u = (unsigned)((a - pt->base) / UNIT);
        CHECK(u < UNITS && pt->mapped[u], "backend unmap of unmapped %#" PRIxPTR, a);
        pt->mapped[u] = false;
    }
    return 0;
}

static int pt_protect(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                      unsigned flags)
{
    struct ptab *pt = p;

    (void)be;
    for (uintptr_t a = start; a < start + size; a += UNIT) {
        unsigned u = (unsigned)((a - pt->base) / UNIT);
        CHECK(u < UNITS && pt->mapped[u], "backend protect of unmapped %#" PRIxPTR, a);
        pt->flags[u] = flags;
    }
    return 0;
}

static const struct mset_backend be = { pt_map, pt_unmap, pt_protect };

/* ------------------------------------------------------------------ world */

/* A writer's current set, shared with readers. */
struct home {
    _Atomic(mset_t *) set;
    atomic_int users; /* readers holding `set` */
    uintptr_t base;   /* immutable: the writer's address range */
};

static struct {
    struct home *homes;
    int nwriters;
} g;

/* Reader: take writer w's set, or NULL.  Seq_cst on both sides: either the
 * writer's retraction sees our count, or we see its NULL. */
static mset_t *take(struct home *h)
{
    atomic_fetch_add(&h->users, 1);
    mset_t *s = atomic_load(&h->set);
    if (!s)
        atomic_fetch_sub(&h->users, 1);
    return s;
}

static void drop(struct home *h)
{
    atomic_fetch_sub(&h->users, 1);
}

/* ---------------------------------------------------------------- writers */

struct wstats {
    uint64_t rounds, ops, clears;
};

static struct wstats wtotal;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static bool set_to(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

/* The set and the page table say what the model says, unit by unit. */
static void check_model(mset_t *s, const struct ptab *pt, const unsigned *model, int w,
                        const char *after)
{
    for (unsigned u = 0; u < UNITS; u++) {
        struct mset_area a;
        uintptr_t addr = pt->base + u * UNIT;
        bool hit = mset_find(s, addr, &a);
        CHECK(hit == (model[u] != 0) && pt->mapped[u] == (model[u] != 0) &&
                  (!hit || (a.flags == model[u] && pt->flags[u] == model[u])),
              "writer %d after %s: unit %#" PRIxPTR " is %s flags %u in the set, %s flags %u in"
              " the page table, model says flags %u (0: unmapped)",
              w, after, addr, hit ? "mapped" : "unmapped", hit ? a.flags : 0,
              pt->mapped[u] ? "mapped" : "unmapped", pt->flags[u], model[u]);
    }
}

static void *writer_main(void *arg, int w)
{
    struct rng r = stress_rng(1000 + (uint64_t)w);
    struct home *h = &g.homes[w];
    struct wstats st = { 0 };
    struct ptab *pt = calloc(1, sizeof *pt);

    (void)arg;
    CHECK(pt, "out of memory");
    pt->base = h->base;
    while (!stress_stopping()) {
        struct acct acct = { 0 };
        struct mset_allocator al = { acct_alloc, acct_free, &acct };
        unsigned model[UNITS] = { 0 };
        mset_t *s = mset_new_with_allocator(pt, &al);
        CHECK(s, "mset_new_with_allocator failed");
        atomic_store(&h->set, s);

        int nops = (int)rng_range(&r, 50, 400);
        for (int i = 0; i < nops && !stress_stopping(); i++) {
            unsigned u0 = (unsigned)rng_below(&r, UNITS);
            unsigned u1 = u0 + (unsigned)rng_range(&r, 1, UNITS - u0 < 12 ? UNITS - u0 : 12);
            uintptr_t start = h->base + u0 * UNIT;
            size_t size = (u1 - u0) * UNIT;
            unsigned flags = (unsigned)rng_range(&r, 1, 7), x = (unsigned)rng_below(&r, 100);
            char what[96];
            int rc, want = 0;
            if (x < 40) {
                bool overlap = rng_below(&r, 2);
                bool taken = false;
                for (unsigned u = u0; u < u1; u++)
                    taken |= model[u] != 0;
                if (taken && !overlap) {
                    want = -EEXIST;
                } else {
                    for (unsigned u = u0; u < u1; u++)
                        model[u] = flags;
                }
                snprintf(what, sizeof what, "map%s([%#" PRIxPTR ", %#" PRIxPTR "))",
                         overlap ? "(unmap_overlap)" : "", start, start + size);
                rc = mset_map(s, start, size, flags, &be, NULL, overlap);
            } else if (x < 75) {
                for (unsigned u = u0; u < u1; u++)
                    model[u] = 0;
                snprintf(what, sizeof what, "unmap([%#" PRIxPTR ", %#" PRIxPTR "))", start,
                         start + size);
                rc = mset_unmap(s, start, size);
            } else if (x < 97) {
                for (unsigned u = u0; u < u1; u++)
                    if (model[u])
                        model[u] = flags;
                snprintf(what, sizeof what, "protect([%#" PRIxPTR ", %#" PRIxPTR "))", start,
                         start + size);
                rc = mset_protect(s, start, size, set_to, &flags);
            } else {
                memset(model, 0, sizeof model);
                snprintf(what, sizeof what, "clear()");
                rc = mset_clear(s);
                CHECK(mset_len(s) == 0, "writer %d: len() = %zu after clear()", w, mset_len(s));
                st.clears++;
            }
            CHECK(rc == want, "writer %d: %s returned %d, expected %d", w, what, rc, want);
            check_model(s, pt, model, w, what);
            st.ops++;
            stress_op_done();
        }

        /* End of the round: clear, retract, wait for readers, destroy. */
        CHECK(mset_clear(s) == 0 && mset_len(s) == 0, "writer %d: final clear() failed", w);
        memset(model, 0, sizeof model);
        check_model(s, pt, model, w, "the final clear()");
        CHECK(mset_check(s) == 0, "writer %d: mset_check() failed", w);
        atomic_store(&h->set, NULL);
        while (atomic_load(&h->users) != 0)
            sched_yield();
        mset_destroy(s);
        long long na = atomic_load(&acct.allocs), nf = atomic_load(&acct.frees);
        CHECK(na == nf && atomic_load(&acct.bytes) == 0,
              "writer %d: after mset_destroy(), %lld allocations, %lld frees, %lld bytes still"
              " allocated: destroy did not wait for every reclamation",
              w, na, nf, atomic_load(&acct.bytes));
        st.rounds++;
    }
    free(pt);
    pthread_mutex_lock(&total_lock);
    wtotal.rounds += st.rounds, wtotal.ops += st.ops, wtotal.clears += st.clears;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

/* ---------------------------------------------------------------- readers */

struct rstats {
    uint64_t calls, empty, threads;
};

static struct rstats rtotal;

struct walk {
    uintptr_t base, prev;
    int n;
};

static bool plausible(const struct mset_area *a, uintptr_t base)
{
    return a->start >= base && a->end <= base + UNITS * UNIT && a->start < a->end &&
           (a->start - base) % UNIT == 0 && (a->end - base) % UNIT == 0 && a->flags >= 1 &&
           a->flags <= 7 && a->backend == &be && a->udata == NULL;
}

static int walk_cb(const struct mset_area *a, void *arg)
{
    struct walk *wk = arg;

    CHECK(plausible(a, wk->base) && (wk->n == 0 || a->start >= wk->prev),
          "R3: foreach visited [%#" PRIxPTR ", %#" PRIxPTR ") flags %u after an area ending at %#" PRIxPTR
          " (unsorted, overlapping or impossible)",
          a->start, a->end, a->flags, wk->prev);
    wk->prev = a->end;
    wk->n++;
    return 0;
}

/* One checked call on some writer's current set; false if none is live. */
static bool one_call(struct rng *r, struct rstats *st)
{
    int w0 = (int)rng_below(r, (uint64_t)g.nwriters), w = w0;
    struct home *h;
    mset_t *s;
    struct mset_area a;

    while (!(s = take(h = &g.homes[w]))) {
        st->empty++;
        if ((w = (w + 1) % g.nwriters) == w0) {
            sched_yield(); /* every writer is between two sets */
            return false;
        }
    }
    st->calls++;
    uintptr_t addr = h->base + rng_below(r, UNITS * UNIT);
    unsigned x = (unsigned)rng_below(r, 100);
    if (x < 60) {
        bool hit = mset_find(s, addr, &a);
        CHECK(!hit || (plausible(&a, h->base) && a.start <= addr && addr < a.end),
              "R2: find(%#" PRIxPTR ") returned [%#" PRIxPTR ", %#" PRIxPTR ") flags %u", addr,
              a.start, a.end, a.flags);
    } else if (x < 75) {
        bool hit = mset_find_next(s, addr, &a);
        CHECK(!hit || (plausible(&a, h->base) && a.end > addr),
              "R2: find_next(%#" PRIxPTR ") returned [%#" PRIxPTR ", %#" PRIxPTR ") flags %u", addr,
              a.start, a.end, a.flags);
    } else if (x < 90) {
        uintptr_t out = 0, end = h->base + UNITS * UNIT;
        size_t size = UNIT * rng_range(r, 1, 4);
        int rc = mset_find_free_area(s, addr, size, h->base, end, UNIT, &out);
        CHECK(rc == -ENOMEM || (rc == 0 && out >= addr && out % UNIT == 0 && out + size <= end),
              "find_free_area(hint %#" PRIxPTR ", size %#zx) = %d, %#" PRIxPTR, addr, size, rc, out);
    } else if (x < 97) {
        struct walk wk = { .base = h->base };
        CHECK(mset_foreach(s, walk_cb, &wk) == 0, "foreach failed");
    } else {
        (void)mset_overlaps(s, addr, UNIT);
        CHECK(mset_len(s) <= UNITS, "len() = %zu, more than %u units can hold", mset_len(s), UNITS);
    }
    drop(h);
    return true;
}

struct shortlived {
    uint64_t seed;
    struct rstats st;
};

/* A thread that makes a hundred calls and exits: liburcu-bp registers it on
 * its first read-side section and unregisters it at exit. */
static void *short_thread(void *arg)
{
    struct shortlived *sl = arg;
    struct rng r = { sl->seed };

    for (int i = 0; i < 100 && !stress_stopping(); i++)
        one_call(&r, &sl->st);
    return NULL;
}

static void *reader_main(void *arg, int id)
{
    struct rng r = stress_rng(1 + (uint64_t)id);
    struct rstats st = { 0 };

    (void)arg;
    if (id % 2 == 0)
        mset_thread_init(); /* the optional explicit registration */
    for (uint64_t n = 1; !stress_stopping();) {
        if (!one_call(&r, &st) || ++n % 2000)
            continue;
        {
            struct shortlived sl = { rng_next(&r), { 0 } };
            pthread_t t;
            CHECK(pthread_create(&t, NULL, short_thread, &sl) == 0, "pthread_create failed");
            pthread_join(t, NULL);
            st.calls += sl.st.calls, st.empty += sl.st.empty;
            st.threads++;
        }
    }
    if (id % 2 == 0)
        mset_thread_fini();
    pthread_mutex_lock(&total_lock);
    rtotal.calls += st.calls, rtotal.empty += st.empty, rtotal.threads += st.threads;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

int main(int argc, char **argv)
{
    struct stress_opts o = { .readers = 2, .writers = 3, .seconds = 10, .scale = 1 };

    stress_init(argc, argv, &o,
                "sets created, churned, cleared and destroyed under readers; destroy must leave"
                " the allocator balanced; reader threads come and go");
    g.nwriters = o.writers;
    g.homes = calloc((size_t)o.writers, sizeof *g.homes);
    CHECK(g.homes, "out of memory");
    for (int w = 0; w < o.writers; w++)
        g.homes[w].base = BASE + (uintptr_t)w * 2 * UNITS * UNIT;

    double secs = stress_run(&o, reader_main, writer_main, NULL);
    const struct wstats *w = &wtotal;
    const struct rstats *r = &rtotal;
    printf("writers: %" PRIu64 " ops in %.1f s (%.0f/s) over %" PRIu64
           " set lifetimes (new, churn, clear, destroy), %" PRIu64 " clears mid-round\n",
           w->ops, secs, (double)w->ops / secs, w->rounds, w->clears);
    printf("readers: %" PRIu64 " checked calls (%.0f/s), %" PRIu64 " probes found a writer"
           " between two sets, %" PRIu64 " short-lived reader threads\n",
           r->calls, (double)r->calls / secs, r->empty, r->threads);
    CHECK(w->rounds > 0 && (o.readers == 0 || r->calls > 0), "no progress");
    printf("PASS\n");
    return 0;
}
