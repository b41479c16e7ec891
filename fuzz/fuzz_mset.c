/* SPDX-License-Identifier: MIT */
/*
 * Differential fuzz target: the library against the reference model.
 *
 * The input is decoded into a window choice and a sequence of calls (format
 * below).  Each call runs on the library, over a page-table backend (one
 * entry per byte of the window) and an allocator that can be told to fail,
 * and on the model in model.c.  After every call the two must agree on the
 * return code, the backend calls made (kind, backend, range, flags, result),
 * the old flags passed to protect's update(), the area list (foreach, len),
 * the page table, find, find_cached (one cursor kept across calls),
 * find_next and overlaps at the edges of every area and of the window (at
 * every byte every 16th call and at the end), mset_snapshot(), and
 * mset_check() must pass.  A refused allocation must give -ENOMEM with no
 * backend call and no change, or be absorbed with the model's exact result.
 * After mset_destroy() every allocated byte must be back and no node slot
 * left in use.  The target links its own copy of the library built with
 * fault injection (src/fault.h), which can refuse node slots too.
 *
 * A divergence prints the input in hex (FUZZ-INPUT: ...) and aborts, so CI
 * logs carry what is needed to reproduce it: save the hex with xxd -r -p and
 * run the target on the file (FZ_TRACE=1 prints every call).
 *
 * Input format (bytes; a missing byte reads as 0):
 *   window: 0 -> base 0, 1 -> the middle of the address space, 2 -> the top
 *   then calls, each an opcode byte (mod 11) and its arguments:
 *     addr  = 1 byte b: base + b, or b = 0xff: 8 raw bytes (little endian)
 *     size  = 1 byte b: b, or b = 0xff: 8 raw bytes
 *     how   = 1 byte: flags (bits 0-2), backend (bit 3), >= 0xf0: NULL backend
 *     align = 1 byte a: a < 0x80: 1 << (a % 9); 0xff: 8 raw bytes; else a - 0x80
 *     fsize = 1 byte s: 0xff: 8 raw bytes; s & 0x80: s & 0x7f; else s * align
 *   0 map addr size how            1 map (unmap_overlap) addr size how
 *   2 unmap addr size              3 protect addr size k (k = 0xff: NULL update)
 *   4 find addr opt                5 find_next addr opt   (opt & 1: NULL out)
 *   6 overlaps addr size           7 find_free_area hint lstart lend align fsize opt
 *   8 map_anywhere hint lstart lend align fsize how opt
 *   9 clear
 *  10 fault mask e a: for the next call only, backend calls i with bit i of
 *     mask fail with errs[e & 3] (e & 0x80: and every call after the first);
 *     a & 0x80: refuse allocation a & 0x3f of the call, node slots included
 *     (fault injection); a & 0x40: the set's allocator refuses every call
 *     from its (a & 0x3f)-th on
 *  11 foreach_range addr size     12 snapshot cap (cap % (areas + 2))
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failing_alloc.h"
#include "fault.h"
#include "model.h"
#include "pt_backend.h"

#define MAX_STEPS 256

static const int errs[4] = { -EIO, -EPERM, -ENOMEM, -EBUSY };

/* ----------------------------------------------------------------- input */

struct input {
    const uint8_t *p;
    size_t n, at;
};

static uint8_t u8(struct input *in)
{
    return in->at < in->n ? in->p[in->at++] : 0;
}

static uint64_t u64(struct input *in)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

static uintptr_t rd_addr(struct input *in, uintptr_t base)
{
    uint8_t b = u8(in);
    return b == 0xff ? (uintptr_t)u64(in) : base + b;
}

static size_t rd_size(struct input *in)
{
    uint8_t b = u8(in);
    return b == 0xff ? (size_t)u64(in) : b;
}

static size_t rd_align(struct input *in)
{
    uint8_t a = u8(in);
    return a < 0x80 ? (size_t)1 << (a % 9) : a == 0xff ? (size_t)u64(in) : (size_t)(a - 0x80);
}

static size_t rd_fsize(struct input *in, size_t align)
{
    uint8_t s = u8(in);
    return s == 0xff ? (size_t)u64(in) : s & 0x80 ? (size_t)(s & 0x7f) : s * align;
}

/* ------------------------------------------------------------ divergence */

static const uint8_t *cur_data;
static size_t cur_size;
static int cur_step;
static char cur_op[256];
static bool trace;

static void dump_input(void)
{
    fprintf(stderr, "FUZZ-INPUT (%zu bytes): ", cur_size);
    for (size_t i = 0; i < cur_size; i++)
        fprintf(stderr, "%02x", cur_data[i]);
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2), noreturn)) static void diverge(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "DIVERGENCE at step %d (%s): ", cur_step, cur_op);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    dump_input();
    abort();
}

#define CHECK(cond, ...)          \
    do {                          \
        if (!(cond))              \
            diverge(__VA_ARGS__); \
    } while (0)

/* -------------------------------------------------------------- allocator */

/* The set itself always comes from one static buffer
 * (failing_alloc_pin_set()): the library seeds its skip-list heights from the
 * set's address, so the same input replays the same structure. */
static struct failing_alloc fa;

/* ------------------------------------------------------------ comparisons */

static struct fz_pt pt;
static struct fz_model model, next;
static struct fz_expect ex;
static struct mset_cursor cursor; /* find_cached's memo, kept across calls */

static bool same_area(const struct mset_area *a, const struct mset_area *b)
{
    return a->start == b->start && a->end == b->end && a->flags == b->flags &&
           a->backend == b->backend && a->udata == b->udata;
}

#define AREA_FMT "[%#lx, %#lx) flags %u be %d udata %p"
#define AREA_ARGS(a) (unsigned long)(a).start, (unsigned long)(a).end, (a).flags, \
                     fz_backend_index((a).backend), (a).udata

struct collect {
    struct mset_area a[FZ_W + 1];
    size_t n;
};

static int collect_cb(const struct mset_area *a, void *arg)
{
    struct collect *c = arg;

    if (c->n > FZ_W)
        return 1;
    c->a[c->n++] = *a;
    return 0;
}

static void compare_calls(void)
{
    CHECK(pt.ncalls == ex.ncalls, "%d backend calls, model expects %d", pt.ncalls, ex.ncalls);
    for (int i = 0; i < ex.ncalls && i < FZ_LOG; i++) {
        const struct fz_call *g = &pt.log[i], *w = &ex.calls[i];
        CHECK(g->kind == w->kind && g->be == w->be && g->start == w->start &&
                  g->size == w->size && g->flags == w->flags && g->rc == w->rc,
              "backend call %d is kind %d be %d [%#lx, +%#zx) flags %u -> %d, model expects "
              "kind %d be %d [%#lx, +%#zx) flags %u -> %d",
              i, g->kind, g->be, (unsigned long)g->start, g->size, g->flags, g->rc, w->kind,
              w->be, (unsigned long)w->start, w->size, w->flags, w->rc);
    }
}

/* Tables built from the model's area list: cont[i] (the area holding byte
 * i), nxt[i] (the first area ending after byte i), cnt[i] (used bytes below
 * byte i). */
static struct mset_area want[FZ_W + 1];
static size_t nwant;
static int cont[FZ_W], nxt[FZ_W + 1];
static unsigned cnt[FZ_W + 1];

static void build_tables(void)
{
    nwant = fz_model_areas(&model, want);
    for (size_t i = 0; i < FZ_W; i++)
        cont[i] = -1;
    for (size_t k = 0; k < nwant; k++)
        for (uintptr_t b = want[k].start; b < want[k].end; b++)
            cont[b - model.base] = (int)k;
    nxt[FZ_W] = -1;
    cnt[0] = 0;
    for (size_t i = FZ_W; i-- > 0;)
        nxt[i] = cont[i] >= 0 ? cont[i] : nxt[i + 1];
    for (size_t i = 0; i < FZ_W; i++)
        cnt[i + 1] = cnt[i] + (cont[i] >= 0);
}

/* find, find_next and overlaps (two lengths) at a, against the tables. */
static void check_readers_at(mset_t *s, uintptr_t a)
{
    bool inside = fz_inside(model.base, a, 1);
    int wf = inside ? cont[a - model.base] : -1;
    int wn = a < model.base ? (nwant ? 0 : -1) : inside ? nxt[a - model.base] : -1;
    struct mset_area g;

    bool gh = mset_find(s, a, &g);
    CHECK(gh == (wf >= 0) && (!gh || same_area(&g, &want[wf])), "find(%#lx): %d, model %d",
          (unsigned long)a, gh, wf >= 0);
    gh = mset_find_cached(s, a, &cursor, &g);
    CHECK(gh == (wf >= 0) && (!gh || same_area(&g, &want[wf])),
          "find_cached(%#lx): %d " AREA_FMT ", model %d", (unsigned long)a, gh, AREA_ARGS(g),
          wf >= 0);
    gh = mset_find_next(s, a, &g);
    CHECK(gh == (wn >= 0) && (!gh || same_area(&g, &want[wn])), "find_next(%#lx): %d, model %d",
          (unsigned long)a, gh, wn >= 0);
    const size_t lens[2] = { 1, 2 + ((size_t)cur_step * 37 + a) % (FZ_W + 8) };
    for (int l = 0; l < 2; l++) {
        u128 end = (u128)a + lens[l];
        bool wo = false;
        int werr = end > UINTPTR_MAX ? EINVAL : 0;
        if (!werr) {
            u128 lo = a > model.base ? a : model.base, hi = (u128)model.base + FZ_W;
            hi = end < hi ? end : hi;
            wo = lo < hi && cnt[hi - model.base] > cnt[lo - model.base];
        }
        errno = 0;
        bool go = mset_overlaps(s, a, lens[l]);
        int gerr = errno;
        CHECK(go == wo && (!werr || gerr == werr), "overlaps(%#lx, %#zx): %d errno %d, "
              "model %d errno %d", (unsigned long)a, lens[l], go, gerr, wo, werr);
    }
}

/* After every call: the whole state.  Readers are asked at the edges of
 * every area and of the window, where answers change, and at every byte
 * of the window and around it when `every_byte` (each 16th call and the
 * end of the input). */
static void compare_state(mset_t *s, bool every_byte)
{
    static struct collect got;

    /* The model agrees with itself: its set describes its page table. */
    for (size_t i = 0; i < FZ_W; i++)
        CHECK((model.id[i] != 0) == model.pt_mapped[i] &&
                  (!model.id[i] || model.flags[i] == model.pt_flags[i]),
              "model inconsistent at byte %zu", i);

    build_tables();
    CHECK(mset_check(s) == 0, "mset_check failed");
    got.n = 0;
    CHECK(mset_foreach(s, collect_cb, &got) == 0, "foreach stopped");
    CHECK(got.n == nwant, "%zu areas, model has %zu", got.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        CHECK(same_area(&got.a[i], &want[i]), "area %zu is " AREA_FMT ", model has " AREA_FMT,
              i, AREA_ARGS(got.a[i]), AREA_ARGS(want[i]));
    CHECK(mset_len(s) == nwant, "len %zu, model has %zu areas", mset_len(s), nwant);
    size_t ns = 0;
    CHECK(mset_snapshot(s, got.a, FZ_W + 1, &ns) == 0 && ns == nwant, "snapshot: %zu areas", ns);
    for (size_t i = 0; i < nwant; i++)
        CHECK(same_area(&got.a[i], &want[i]), "snapshot area %zu is " AREA_FMT, i,
              AREA_ARGS(got.a[i]));

    CHECK(pt.violations == 0, "backend contract violated %d times", pt.violations);
    for (size_t i = 0; i < FZ_W; i++)
        CHECK(pt.mapped[i] == model.pt_mapped[i] && pt.flags[i] == model.pt_flags[i],
              "page table byte %zu: mapped %d flags %u, model %d %u", i, pt.mapped[i],
              pt.flags[i], model.pt_mapped[i], model.pt_flags[i]);

    /* The cursor's memo first: a writer just ran, it may be stale. */
    if (cursor.set) {
        check_readers_at(s, cursor.area.start);
        check_readers_at(s, cursor.area.end - 1);
    }
    if (every_byte) {
        for (int j = -2; j < (int)FZ_W + 2; j++)
            check_readers_at(s, model.base + (uintptr_t)(intptr_t)j);
        return;
    }
    for (int j = -2; j < 2; j++) {
        check_readers_at(s, model.base + (uintptr_t)(intptr_t)j);
        check_readers_at(s, model.base + FZ_W + (uintptr_t)(intptr_t)j);
    }
    for (size_t k = 0; k < nwant; k++) {
        check_readers_at(s, want[k].start - 1);
        check_readers_at(s, want[k].start);
        check_readers_at(s, want[k].end - 1);
        check_readers_at(s, want[k].end);
    }
}

/* ------------------------------------------------------------------ calls */

struct upd_log {
    unsigned k;
    int n;
    unsigned old[FZ_W + 1];
};

static bool fz_update(unsigned old, unsigned *nf, void *arg)
{
    struct upd_log *u = arg;

    if (*nf != old)
        diverge("update() got new_flags %u != old flags %u", *nf, old);
    if (u->n <= (int)FZ_W)
        u->old[u->n++] = old;
    return fz_decide(old, nf, u->k);
}

static int how_backend(uint8_t how)
{
    return how >= 0xf0 ? -1 : (how >> 3) & 1;
}

static const struct mset_backend *backend_of(int be)
{
    return be < 0 ? NULL : &fz_backend[be];
}

enum { OP_MAP, OP_MAP_OV, OP_UNMAP, OP_PROTECT, OP_FIND, OP_FIND_NEXT, OP_OVERLAPS, OP_FFA,
       OP_ANYWHERE, OP_CLEAR, OP_FAULT, OP_RANGE, OP_SNAPSHOT, OP_COUNT };

static int collect_range(const struct mset_area *a, void *arg)
{
    return collect_cb(a, arg);
}

/* Did the last call meet a refused allocation? */
static bool inject_armed;

static bool refused_since(long failed_before)
{
    return fa.failed > failed_before || (inject_armed && mset_fault_pending() < 0);
}

/* Reconcile a writer's result with the model's; true if the library ran out
 * of memory before calling any backend (then the model stays as it was). */
static bool writer_done(int rc, long failed_before, bool check_out, uintptr_t out, uintptr_t out0)
{
    bool refused = refused_since(failed_before);

    if (trace)
        fprintf(stderr, "    -> %d, %d backend calls, %ld allocations refused, model: %d\n", rc,
                pt.ncalls, fa.failed - failed_before, ex.rc);

    if (refused && rc == -ENOMEM && pt.ncalls == 0) {
        /* The library ran out of memory before calling any backend: it must
         * have changed nothing (the model state stays as it was). */
        if (check_out)
            CHECK(out == out0, "out written on -ENOMEM");
        return true;
    }
    CHECK(rc == ex.rc, "returned %d, model expects %d", rc, ex.rc);
    compare_calls();
    if (check_out)
        CHECK(out == (rc == 0 ? ex.out : out0), "out %#lx, model expects %#lx",
              (unsigned long)out, (unsigned long)(rc == 0 ? ex.out : out0));
    model = next;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uintptr_t bases[3] = { 0, (uintptr_t)1 << 62, UINTPTR_MAX - FZ_W + 1 };
    struct input in = { data, size, 0 };
    struct fz_faults faults = { 0, false, 0 }, none = { 0, false, 0 };
    long inject_at = -1, alloc_from = -1;

    if (size == 0)
        return 0;
    trace = getenv("FZ_TRACE") != NULL;
    cur_data = data, cur_size = size, cur_step = -1;
    snprintf(cur_op, sizeof cur_op, "setup");

    /* Injection is global to the library: nothing may be left armed. */
    mset_fault_inject(-1);
    inject_armed = false;
    uintptr_t base = bases[u8(&in) % 3];
    memset(&pt, 0, sizeof pt);
    pt.base = base;
    fz_model_init(&model, base);
    struct mset_allocator a = failing_alloc_init(&fa);
    memset(&cursor, 0, sizeof cursor);
    long leaked = mset_fault_leaked_slots();
    failing_alloc_pin_set(&fa);
    mset_t *s = mset_new_with_allocator(&pt, &a);
    CHECK(s != NULL, "mset_new failed");

    for (cur_step = 0; in.at < in.n && cur_step < MAX_STEPS; cur_step++) {
        int op = u8(&in) % OP_COUNT, rc;
        long failed = fa.failed;
        uintptr_t start, hint, ls, le, out, out0 = 0xdeadbeef;
        size_t sz, align;
        uint8_t how, opt;
        struct upd_log upd;
        struct mset_area g, w, g0;
        bool gh, wh;
        int err;

        next = model;
        fz_pt_begin(&pt, &faults);
        /* Faults apply to the next call that is not a fault call. */
        if (op != OP_FAULT) {
            if (alloc_from >= 0)
                failing_alloc_arm(&fa, alloc_from, true);
            inject_armed = inject_at >= 0;
            mset_fault_inject(inject_at);
        }
        switch (op) {
        case OP_MAP:
        case OP_MAP_OV:
            start = rd_addr(&in, base), sz = rd_size(&in), how = u8(&in);
            snprintf(cur_op, sizeof cur_op, "map(%#lx, %#zx, flags %u, be %d, overlap %d)",
                     (unsigned long)start, sz, how & 7, how_backend(how), op == OP_MAP_OV);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            fz_model_map(&next, &ex, &faults, start, sz, how & 7, how_backend(how),
                         (uintptr_t)cur_step + 1, op == OP_MAP_OV);
            rc = mset_map(s, start, sz, how & 7, backend_of(how_backend(how)),
                          (void *)((uintptr_t)cur_step + 1), op == OP_MAP_OV);
            writer_done(rc, failed, false, 0, 0);
            break;
        case OP_UNMAP:
            start = rd_addr(&in, base), sz = rd_size(&in);
            snprintf(cur_op, sizeof cur_op, "unmap(%#lx, %#zx)", (unsigned long)start, sz);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            fz_model_unmap(&next, &ex, &faults, start, sz);
            rc = mset_unmap(s, start, sz);
            writer_done(rc, failed, false, 0, 0);
            break;
        case OP_PROTECT:
            start = rd_addr(&in, base), sz = rd_size(&in), upd.k = u8(&in), upd.n = 0;
            snprintf(cur_op, sizeof cur_op, "protect(%#lx, %#zx, k %u)", (unsigned long)start,
                     sz, upd.k);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            fz_model_protect(&next, &ex, &faults, start, sz, upd.k != 0xff, upd.k);
            rc = mset_protect(s, start, sz, upd.k != 0xff ? fz_update : NULL, &upd);
            /* Out of memory, update() may have been called for a prefix. */
            if (!writer_done(rc, failed, false, 0, 0))
                CHECK(upd.n == ex.nupd, "update() called %d times, model expects %d", upd.n,
                      ex.nupd);
            CHECK(upd.n <= ex.nupd, "update() called %d times, model expects %d", upd.n, ex.nupd);
            for (int i = 0; i < upd.n; i++)
                CHECK(upd.old[i] == ex.upd_old[i], "update() call %d got old flags %u, "
                      "model expects %u", i, upd.old[i], ex.upd_old[i]);
            break;
        case OP_CLEAR:
            snprintf(cur_op, sizeof cur_op, "clear()");
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            fz_model_clear(&next, &ex, &faults);
            rc = mset_clear(s);
            writer_done(rc, failed, false, 0, 0);
            break;
        case OP_ANYWHERE:
            hint = rd_addr(&in, base), ls = rd_addr(&in, base), le = rd_addr(&in, base);
            align = rd_align(&in), sz = rd_fsize(&in, align), how = u8(&in), opt = u8(&in);
            snprintf(cur_op, sizeof cur_op, "map_anywhere(hint %#lx, size %#zx, limit [%#lx, "
                     "%#lx), align %#zx, flags %u, be %d, out %s)", (unsigned long)hint, sz,
                     (unsigned long)ls, (unsigned long)le, align, how & 7, how_backend(how),
                     opt & 1 ? "NULL" : "set");
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            fz_model_map_anywhere(&next, &ex, &faults, hint, sz, ls, le, align, how & 7,
                                  how_backend(how), (uintptr_t)cur_step + 1);
            out = out0;
            rc = mset_map_anywhere(s, hint, sz, ls, le, align, how & 7,
                                   backend_of(how_backend(how)), (void *)((uintptr_t)cur_step + 1),
                                   opt & 1 ? NULL : &out);
            writer_done(rc, failed, !(opt & 1), out, out0);
            break;
        case OP_FIND:
        case OP_FIND_NEXT:
            start = rd_addr(&in, base), opt = u8(&in);
            snprintf(cur_op, sizeof cur_op, "%s(%#lx, out %s)", op == OP_FIND ? "find" : "find_next",
                     (unsigned long)start, opt & 1 ? "NULL" : "set");
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            memset(&g, 0xa5, sizeof g);
            g0 = g;
            if (op == OP_FIND) {
                gh = mset_find(s, start, opt & 1 ? NULL : &g);
                wh = fz_model_find(&model, start, &w);
            } else {
                gh = mset_find_next(s, start, opt & 1 ? NULL : &g);
                wh = fz_model_find_next(&model, start, &w);
            }
            CHECK(gh == wh, "returned %d, model %d", gh, wh);
            if (opt & 1 || !gh)
                CHECK(memcmp(&g, &g0, sizeof g) == 0, "out written though NULL or a miss");
            else
                CHECK(same_area(&g, &w), "found " AREA_FMT ", model " AREA_FMT, AREA_ARGS(g),
                      AREA_ARGS(w));
            break;
        case OP_OVERLAPS:
            start = rd_addr(&in, base), sz = rd_size(&in);
            snprintf(cur_op, sizeof cur_op, "overlaps(%#lx, %#zx)", (unsigned long)start, sz);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            errno = 0;
            gh = mset_overlaps(s, start, sz);
            rc = errno;
            wh = fz_model_overlaps(&model, start, sz, &err);
            CHECK(gh == wh && (!err || rc == err), "returned %d errno %d, model %d errno %d", gh,
                  rc, wh, err);
            break;
        case OP_FFA:
            hint = rd_addr(&in, base), ls = rd_addr(&in, base), le = rd_addr(&in, base);
            align = rd_align(&in), sz = rd_fsize(&in, align), opt = u8(&in);
            snprintf(cur_op, sizeof cur_op, "find_free_area(hint %#lx, size %#zx, limit [%#lx, "
                     "%#lx), align %#zx, out %s)", (unsigned long)hint, sz, (unsigned long)ls,
                     (unsigned long)le, align, opt & 1 ? "NULL" : "set");
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            out = out0;
            rc = mset_find_free_area(s, hint, sz, ls, le, align, opt & 1 ? NULL : &out);
            if (opt & 1) {
                CHECK(rc == -EINVAL, "returned %d with a NULL out, expected -EINVAL", rc);
                break;
            }
            err = fz_model_find_free_area(&model, hint, sz, ls, le, align, &ex.out);
            CHECK(rc == err, "returned %d, model %d", rc, err);
            CHECK(out == (rc ? out0 : ex.out), "out %#lx, model %#lx", (unsigned long)out,
                  (unsigned long)(rc ? out0 : ex.out));
            break;
        case OP_FAULT: {
            uint8_t mask = u8(&in), e = u8(&in), al = u8(&in);
            snprintf(cur_op, sizeof cur_op, "fault(mask %#x, err %d%s, alloc %d%s)", mask,
                     errs[e & 3], e & 0x80 ? " sticky" : "", al & 0x80 ? al & 0x3f : -1,
                     al & 0x40 ? " sticky" : "");
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            faults = (struct fz_faults){ mask, (e & 0x80) != 0, errs[e & 3] };
            inject_at = al & 0x80 ? al & 0x3f : -1;
            alloc_from = al & 0x40 ? al & 0x3f : -1;
            continue; /* armed for the next call */
        }
        case OP_RANGE: {
            static struct collect rg;
            start = rd_addr(&in, base), sz = rd_size(&in);
            snprintf(cur_op, sizeof cur_op, "foreach_range(%#lx, %#zx)", (unsigned long)start, sz);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            rg.n = 0;
            rc = mset_foreach_range(s, start, sz, collect_range, &rg);
            bool bad = sz == 0 || (u128)start + sz > UINTPTR_MAX;
            CHECK(rc == (bad ? -EINVAL : 0), "returned %d", rc);
            size_t nw = 0;
            static struct mset_area wa[FZ_W + 1];
            if (!bad) {
                size_t n = fz_model_areas(&model, wa);
                for (size_t i = 0; i < n; i++)
                    if (wa[i].end > start && (u128)wa[i].start < (u128)start + sz)
                        wa[nw++] = wa[i];
            }
            CHECK(rg.n == nw, "%zu areas, model %zu", rg.n, nw);
            for (size_t i = 0; i < nw; i++)
                CHECK(same_area(&rg.a[i], &wa[i]), "area %zu is " AREA_FMT ", model " AREA_FMT, i,
                      AREA_ARGS(rg.a[i]), AREA_ARGS(wa[i]));
            break;
        }
        case OP_SNAPSHOT: {
            static struct mset_area buf[FZ_W + 1], wa[FZ_W + 1];
            size_t n = fz_model_areas(&model, wa), cap = u8(&in) % (n + 2), got = 0;
            snprintf(cur_op, sizeof cur_op, "snapshot(cap %zu)", cap);
            if (trace)
                fprintf(stderr, "step %d: %s\n", cur_step, cur_op);
            rc = mset_snapshot(s, cap ? buf : NULL, cap, &got);
            CHECK(rc == (n > cap ? -ENOSPC : 0) && got == n, "returned %d, %zu areas; model %zu",
                  rc, got, n);
            for (size_t i = 0; i < cap && i < n; i++)
                CHECK(same_area(&buf[i], &wa[i]), "area %zu is " AREA_FMT, i, AREA_ARGS(buf[i]));
            break;
        }
        }
        faults = none;
        inject_at = alloc_from = -1;
        inject_armed = false;
        mset_fault_inject(-1);
        failing_alloc_disarm(&fa);
        compare_state(s, cur_step % 16 == 15);
    }
    compare_state(s, true);
    mset_destroy(s);
    CHECK(failing_alloc_live(&fa) == 0 && failing_alloc_bytes(&fa) == 0,
          "%ld blocks (%ld bytes) leaked", failing_alloc_live(&fa), failing_alloc_bytes(&fa));
    CHECK(mset_fault_leaked_slots() == leaked, "%ld node slots leaked",
          mset_fault_leaked_slots() - leaked);
    return 0;
}
