/* SPDX-License-Identifier: MIT */
/*
 * Out-of-memory sweep.  Each scenario is a sequence of writer operations.  It
 * runs once with nothing failing (the reference: every operation's return
 * code and the area list after it), then once for every allocation index k,
 * from mset_new() to the last operation, with the k-th allocation refused.
 * Allocations are counted and refused two ways, because node slots come from
 * the set's slab and reach its allocator only when a block is full:
 *   - through the public struct mset_allocator (tests/failing_alloc.c): the
 *     set, the head, slab blocks, protect's plan, reclamation batch headers;
 *     the k-th call is refused "once", or "sticky" (every call from the k-th
 *     on, until an operation returns -ENOMEM);
 *   - through the library's fault injection (src/fault.h, compiled into this
 *     test's own copy of the library): every node slot, the head, the plan
 *     and batch headers.
 * After each operation:
 *   - it returned -ENOMEM: an allocation was refused during it, no backend
 *     was called, the set is the reference's state before the operation and
 *     passes mset_check(); retried with memory, it then does what the
 *     reference did;
 *   - otherwise it returned the reference's code and left the reference's
 *     areas: a refusal it absorbed can only be a reclamation batch header,
 *     whose fallback waits for a grace period and frees the nodes itself.
 * The set itself is always at the same address (failing_alloc_pin_set()), so
 * that every run draws the same tower heights as the reference up to its
 * refusal.  At the end the page table equals the reference's, and after mset_destroy()
 * every allocated byte is back and no node slot was left in use (the set's
 * batches are freed in liburcu's call_rcu thread; mset_destroy() waits).
 */
#include <string.h>

#include "failing_alloc.h"
#include "fault.h"
#include "testutil.h"

enum kind { MAP, MAP_OV, UNMAP, PROTECT, CLEAR, ANYWHERE };

#define ANY (~0u)

struct op {
    enum kind kind;
    uintptr_t start; /* ANYWHERE: the hint */
    size_t size;
    unsigned flags;  /* PROTECT: the new flags */
    unsigned only;   /* PROTECT: change only areas with these flags (ANY: all) */
    size_t align;    /* ANYWHERE */
};

#define MAX_OPS 512
#define SPAN 0x20000u /* every scenario stays in [0, SPAN) = the mock's span */

struct scenario {
    struct op ops[MAX_OPS];
    size_t n;
};

static void add(struct scenario *sc, struct op o)
{
    assert_true(sc->n < MAX_OPS);
    sc->ops[sc->n++] = o;
}

static void op_range(struct scenario *sc, enum kind k, uintptr_t start, size_t size, unsigned flags)
{
    add(sc, (struct op){ .kind = k, .start = start, .size = size, .flags = flags, .only = ANY });
}

#define MAP_(sc, start, size, flags) op_range(sc, MAP, start, size, flags)
#define MAP_OV_(sc, start, size, flags) op_range(sc, MAP_OV, start, size, flags)
#define UNMAP_(sc, start, size) op_range(sc, UNMAP, start, size, 0)
#define CLEAR_(sc) op_range(sc, CLEAR, 0, 0, 0)

static void PROTECT_(struct scenario *sc, uintptr_t start, size_t size, unsigned flags, unsigned only)
{
    add(sc, (struct op){ .kind = PROTECT, .start = start, .size = size, .flags = flags, .only = only });
}

static void ANYWHERE_(struct scenario *sc, uintptr_t hint, size_t size, unsigned flags, size_t align)
{
    add(sc, (struct op){ .kind = ANYWHERE, .start = hint, .size = size, .flags = flags, .only = ANY,
                         .align = align });
}

static bool update(unsigned old, unsigned *nf, void *arg)
{
    const struct op *o = arg;

    if (o->only != ANY && old != o->only)
        return false;
    *nf = o->flags;
    return true;
}

static int run_op(mset_t *s, const struct op *o)
{
    uintptr_t at;

    switch (o->kind) {
    case MAP:
    case MAP_OV:
        return mset_map(s, o->start, o->size, o->flags, &mock_backend, NULL, o->kind == MAP_OV);
    case UNMAP:
        return mset_unmap(s, o->start, o->size);
    case PROTECT:
        return mset_protect(s, o->start, o->size, update, (void *)o);
    case CLEAR:
        return mset_clear(s);
    case ANYWHERE:
        return mset_map_anywhere(s, o->start, o->size, 0, SPAN, o->align, o->flags,
                                 &mock_backend, NULL, &at);
    }
    return -1;
}

static int backend_calls(const struct mock_pt *pt)
{
    return pt->calls[MOCK_MAP] + pt->calls[MOCK_UNMAP] + pt->calls[MOCK_PROTECT];
}

static void snapshot(mset_t *s, struct collect *c)
{
    c->n = 0;
    assert_int_equal(mset_foreach(s, collect_cb, c), 0);
    assert_true(c->n <= 256);
}

static void assert_same_areas(mset_t *s, const struct collect *want, const char *what, size_t i)
{
    static struct collect got;

    snapshot(s, &got);
    bool same = got.n == want->n;
    for (size_t j = 0; same && j < got.n; j++)
        same = got.a[j].start == want->a[j].start && got.a[j].end == want->a[j].end &&
               got.a[j].flags == want->a[j].flags;
    if (!same)
        fprintf(stderr, "%s after op %zu: %zu areas, reference has %zu\n", what, i, got.n,
                want->n);
    assert_true(same);
    assert_int_equal(mset_len(s), want->n);
    assert_int_equal(mset_check(s), 0);
}

/* Where refusals come from. */
enum source { ALLOC_ONCE, ALLOC_STICKY, INJECT };
static const char *const source_name[] = { "allocator once", "allocator sticky", "injected" };

#define NEVER (1L << 40)

/* The failure source of the current run. */
struct faults {
    enum source src;
    struct failing_alloc fa;
    bool armed;   /* INJECT: an injection is pending */
    long refused; /* INJECT: refusals seen so far */
};

/* Refusals so far in this run. */
static long faults_refused(struct faults *x)
{
    if (x->src != INJECT)
        return x->fa.failed;
    if (x->armed && mset_fault_pending() < 0) {
        x->armed = false;
        x->refused++;
    }
    return x->refused;
}

static void faults_arm(struct faults *x, long k)
{
    x->refused = 0;
    x->armed = x->src == INJECT;
    if (x->src == INJECT)
        mset_fault_inject(k);
    else
        failing_alloc_arm(&x->fa, k, x->src == ALLOC_STICKY);
}

static void faults_disarm(struct faults *x)
{
    faults_refused(x);
    x->armed = false;
    mset_fault_inject(-1);
    failing_alloc_disarm(&x->fa);
}

/* What the reference run did. */
struct reference {
    int rc[MAX_OPS];
    struct collect after[MAX_OPS];
    struct collect empty;
    long allocations; /* from mset_new() to the end, as the source counts them */
    struct mock_pt *pt;
};

static void run_reference(const struct scenario *sc, struct reference *ref, enum source src)
{
    static struct faults x;
    struct mset_allocator a = failing_alloc_init(&x.fa);

    x.src = src;
    faults_arm(&x, NEVER);
    ref->pt = mock_pt_new();
    failing_alloc_pin_set(&x.fa);
    mset_t *s = mset_new_with_allocator(ref->pt, &a);
    assert_non_null(s);
    ref->empty.n = 0;
    for (size_t i = 0; i < sc->n; i++) {
        ref->rc[i] = run_op(s, &sc->ops[i]);
        snapshot(s, &ref->after[i]);
    }
    assert_int_equal(mset_check(s), 0);
    assert_true(mock_matches_set(ref->pt, s));
    assert_int_equal(ref->pt->violations, 0);
    ref->allocations = src == INJECT ? NEVER - mset_fault_pending() : x.fa.calls;
    faults_disarm(&x);
    mset_destroy(s);
    assert_int_equal(failing_alloc_live(&x.fa), 0);
}

struct outcome {
    long runs;     /* k values swept: one per allocation of the reference */
    long enomem;   /* operations that returned -ENOMEM (mset_new: NULL) */
    long absorbed; /* refusals an operation absorbed and still succeeded */
};

/* One run with the k-th allocation refused; true if a refusal happened. */
static bool run_failing(const struct scenario *sc, const struct reference *ref, long k,
                        enum source src, struct outcome *out)
{
    static struct faults x;
    struct mset_allocator a = failing_alloc_init(&x.fa);
    struct mock_pt *pt = mock_pt_new();
    long leaked = mset_fault_leaked_slots();

    x.src = src;
    faults_arm(&x, k);
    errno = 0;
    failing_alloc_pin_set(&x.fa);
    mset_t *s = mset_new_with_allocator(pt, &a);
    if (!s) {
        assert_int_equal(errno, ENOMEM);
        assert_true(faults_refused(&x) > 0);
        assert_int_equal(failing_alloc_live(&x.fa), 0);
        out->enomem++;
        faults_disarm(&x);
        failing_alloc_pin_set(&x.fa);
        s = mset_new_with_allocator(pt, &a);
        assert_non_null(s);
    }
    for (size_t i = 0; i < sc->n; i++) {
        const struct op *o = &sc->ops[i];
        long refused = faults_refused(&x);
        int calls = backend_calls(pt);
        int rc = run_op(s, o);
        bool hit = faults_refused(&x) > refused;

        if (rc == -ENOMEM && ref->rc[i] != -ENOMEM) {
            /* Refused: nothing happened, and the operation can be retried. */
            assert_true(hit);
            assert_int_equal(backend_calls(pt), calls);
            assert_same_areas(s, i ? &ref->after[i - 1] : &ref->empty, "-ENOMEM", i);
            out->enomem++;
            faults_disarm(&x);
            rc = run_op(s, o);
        } else if (hit) {
            out->absorbed++;
        }
        assert_int_equal(rc, ref->rc[i]);
        assert_same_areas(s, &ref->after[i], "result", i);
    }
    faults_disarm(&x);
    assert_int_equal(memcmp(pt->mapped, ref->pt->mapped, sizeof pt->mapped), 0);
    assert_int_equal(memcmp(pt->flags, ref->pt->flags, sizeof pt->flags), 0);
    assert_int_equal(pt->violations, 0);
    mset_destroy(s);
    assert_int_equal(failing_alloc_live(&x.fa), 0);
    assert_int_equal(failing_alloc_bytes(&x.fa), 0);
    assert_int_equal(mset_fault_leaked_slots(), leaked);
    mock_pt_free(pt);
    return faults_refused(&x) > 0;
}

static struct reference ref;

/* Sweep every k from every source; print the figures docs/reliability.md
 * quotes. */
static void sweep(const char *name, const struct scenario *sc, struct outcome *total)
{
    for (int src = ALLOC_ONCE; src <= INJECT; src++) {
        struct outcome out = { 0, 0, 0 };
        long k = 0;

        run_reference(sc, &ref, src);
        while (run_failing(sc, &ref, k, src, &out))
            k++;
        out.runs = k;
        /* Every allocation of the reference was refused once. */
        assert_int_equal(out.runs, ref.allocations);
        printf("oom %-15s %-16s: %3zu ops, k = 0..%-3ld: %3ld -ENOMEM, %ld absorbed\n", name,
               source_name[src], sc->n, out.runs - 1, out.enomem, out.absorbed);
        total[src] = out;
        mock_pt_free(ref.pt);
    }
}

static struct scenario sc;
static struct outcome res[3];

static void oom_creating_a_set(void **state)
{
    (void)state;
    sc.n = 0;
    sweep("creation", &sc, res);
    for (int src = ALLOC_ONCE; src <= INJECT; src++)
        assert_int_equal(res[src].enomem, res[src].runs);
}

static void oom_in_map(void **state)
{
    (void)state;
    sc.n = 0;
    /* Enough areas, in a scrambled order, for towers of several heights. */
    for (unsigned i = 0; i < 40; i++) {
        uintptr_t slot = (i * 17u) % 40u;
        MAP_(&sc, 0x1000 + slot * 0x200, 0x100 + (slot % 3) * 0x40, slot % 5);
    }
    MAP_(&sc, 0x1000, 0x100, 1); /* -EEXIST: no allocation at all */
    sweep("map", &sc, res);
    assert_true(res[INJECT].enomem >= 40); /* one node each */
}

static void oom_in_map_with_overlap(void **state)
{
    (void)state;
    sc.n = 0;
    MAP_(&sc, 0x1000, 0x300, 1);
    MAP_(&sc, 0x1400, 0x100, 2);
    MAP_(&sc, 0x1600, 0x300, 3);
    MAP_OV_(&sc, 0x1200, 0x600, 9);  /* shrinks both neighbours, removes one */
    MAP_OV_(&sc, 0x1300, 0x100, 7);  /* splits the new area in three */
    MAP_OV_(&sc, 0x1000, 0x200, 4);  /* replaces an equal area */
    MAP_OV_(&sc, 0x0f80, 0x100, 5);  /* shrinks one from the left */
    MAP_OV_(&sc, 0x3000, 0x100, 6);  /* free space: just maps */
    MAP_OV_(&sc, 0x0800, 0x3000, 8); /* swallows everything */
    sweep("map_overlap", &sc, res);
}

static void oom_in_unmap(void **state)
{
    (void)state;
    sc.n = 0;
    for (uintptr_t a = 0x1000; a < 0x3000; a += 0x400)
        MAP_(&sc, a, 0x300, 1);
    UNMAP_(&sc, 0x0f00, 0x200);  /* shrinks the first from the left */
    UNMAP_(&sc, 0x1600, 0x200);  /* shrinks one from the right */
    UNMAP_(&sc, 0x1880, 0x100);  /* splits one */
    UNMAP_(&sc, 0x1c80, 0x900);  /* shrinks, removes, shrinks */
    UNMAP_(&sc, 0x5000, 0x100);  /* a free range */
    UNMAP_(&sc, 0, SPAN);        /* everything */
    sweep("unmap", &sc, res);
}

static void oom_in_protect(void **state)
{
    (void)state;
    sc.n = 0;
    for (uintptr_t a = 0; a < 20; a++)
        MAP_(&sc, 0x1000 + a * 0x400, 0x300, 1);
    PROTECT_(&sc, 0x0f00, 0x200, 2, ANY);             /* left part: 2 pieces */
    PROTECT_(&sc, 0x1600, 0x200, 2, ANY);             /* right part: 2 pieces */
    PROTECT_(&sc, 0x1880, 0x100, 3, ANY);             /* middle: 3 pieces */
    PROTECT_(&sc, 0x2080, 12 * 0x400, 4, ANY);        /* 12 areas: the plan is allocated */
    PROTECT_(&sc, 0x1000, 20 * 0x400, 5, 1);          /* only the areas still 1 */
    PROTECT_(&sc, 0x1000, 20 * 0x400, 5, 5);          /* to the same flags: nothing */
    sweep("protect", &sc, res);
}

static void oom_in_clear(void **state)
{
    (void)state;
    sc.n = 0;
    for (uintptr_t a = 0; a < 10; a++)
        MAP_(&sc, 0x1000 + a * 0x200, 0x100, 1);
    CLEAR_(&sc);
    MAP_(&sc, 0x1000, 0x100, 2);
    CLEAR_(&sc);
    sweep("clear", &sc, res);
}

static void oom_in_map_anywhere(void **state)
{
    (void)state;
    sc.n = 0;
    MAP_(&sc, 0x1000, 0x180, 1);
    MAP_(&sc, 0x1300, 0x100, 1);
    ANYWHERE_(&sc, 0x1000, 0x100, 2, 1);
    ANYWHERE_(&sc, 0x1000, 0x200, 3, 0x200);
    ANYWHERE_(&sc, 0, 0x1000, 4, 0x1000);
    ANYWHERE_(&sc, 0x1000, 0x40, 5, 0x40);
    sweep("map_anywhere", &sc, res);
}

static void oom_in_reclamation_batches_is_absorbed(void **state)
{
    (void)state;
    sc.n = 0;
    /* 100 areas; protecting 70 and unmapping all retire more than a batch
     * (64 nodes) at once, so each ends with a batch header allocation. */
    for (uintptr_t a = 0; a < 100; a++)
        MAP_(&sc, 0x1000 + a * 0x100, 0x80, 1);
    PROTECT_(&sc, 0x1000, 70 * 0x100, 2, ANY);
    UNMAP_(&sc, 0, SPAN);
    sweep("retire_batch", &sc, res);
    /* A refused batch header is not an error: the writer waited for a grace
     * period and freed the nodes itself. */
    for (int src = ALLOC_ONCE; src <= INJECT; src++)
        assert_true(res[src].absorbed > 0);
}

static void oom_in_the_worked_examples(void **state)
{
    (void)state;
    sc.n = 0;
    /* test_examples.c, as one sequence. */
    for (uintptr_t a = 0; a < 0x10000; a += 0x2000)
        MAP_(&sc, a, 0x1000, 1);
    for (uintptr_t a = 0x1000; a < 0x10000; a += 0x2000)
        MAP_(&sc, a, 0x1000, 2);
    MAP_(&sc, 0x4000, 0x4000, 3);    /* -EEXIST */
    MAP_OV_(&sc, 0x4000, 0x4000, 3); /* 16 -> 13 areas */
    UNMAP_(&sc, 0x0800, 0x4000);
    UNMAP_(&sc, 0xa800, 0x1000);
    UNMAP_(&sc, 0x5000, 0x800);
    UNMAP_(&sc, 0, 0x10000);
    for (uintptr_t a = 0; a < 0x10000; a += 0x2000)
        MAP_(&sc, a, 0x1000, 7);
    for (uintptr_t b = 0; b < 0x10000; b += 0x2000)
        PROTECT_(&sc, b + 0xc00, 0x1800, 1, ANY); /* 8 -> 23 areas */
    for (uintptr_t b = 0; b < 0x10000; b += 0x2000)
        PROTECT_(&sc, b + 0x800, 0x100, 2, 7);    /* -> 39 areas */
    PROTECT_(&sc, 0, 0x10000, 1, ANY);
    CLEAR_(&sc);
    sweep("worked_examples", &sc, res);
}

/* Inside a read-side section (an mset_foreach() callback) a writer cannot
 * wait for a grace period: a refused batch header leaves the nodes in limbo,
 * the next writer outside retries, and mset_destroy() frees what is left. */
static int unmap_each(const struct mset_area *a, void *arg)
{
    return mset_unmap(arg, a->start, a->end - a->start);
}

static void oom_in_reclamation_inside_foreach_defers_the_nodes(void **state)
{
    (void)state;
    struct failing_alloc fa;
    struct mset_allocator a = failing_alloc_init(&fa);
    struct mock_pt *pt = mock_pt_new();
    long leaked = mset_fault_leaked_slots();
    mset_t *s = mset_new_with_allocator(pt, &a);

    assert_non_null(s);
    for (uintptr_t x = 0; x < 200; x++)
        assert_int_equal(mset_map(s, 0x1000 + x * 0x100, 0x80, 1, &mock_backend, NULL, false), 0);
    long live = failing_alloc_live(&fa);
    failing_alloc_arm(&fa, 0, true); /* whole-area unmaps allocate only batch headers */
    assert_int_equal(mset_foreach(s, unmap_each, s), 0);
    assert_true(fa.failed >= 3);                     /* 200 retired: flush refused */
    assert_int_equal(failing_alloc_live(&fa), live);  /* no slot freed, no block */
    assert_int_equal(mset_len(s), 0);
    assert_true(mock_matches_set(pt, s));
    assert_int_equal(mset_check(s), 0);
    /* Outside, the next retire waits for a grace period and frees them: the
     * emptied slab blocks go back to the allocator. */
    failing_alloc_disarm(&fa);
    assert_int_equal(mset_map(s, 0x1000, 0x80, 1, &mock_backend, NULL, false), 0);
    failing_alloc_arm(&fa, 0, true);
    long failed = fa.failed;
    assert_int_equal(mset_unmap(s, 0x1000, 0x80), 0);
    assert_true(fa.failed > failed);
    assert_true(failing_alloc_live(&fa) < live);
    failing_alloc_disarm(&fa);
    mset_destroy(s);
    assert_int_equal(failing_alloc_live(&fa), 0);
    assert_int_equal(mset_fault_leaked_slots(), leaked);
    mock_pt_free(pt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_creating_a_set),
        cmocka_unit_test(oom_in_map),
        cmocka_unit_test(oom_in_map_with_overlap),
        cmocka_unit_test(oom_in_unmap),
        cmocka_unit_test(oom_in_protect),
        cmocka_unit_test(oom_in_clear),
        cmocka_unit_test(oom_in_map_anywhere),
        cmocka_unit_test(oom_in_reclamation_batches_is_absorbed),
        cmocka_unit_test(oom_in_the_worked_examples),
        cmocka_unit_test(oom_in_reclamation_inside_foreach_defers_the_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
