/* SPDX-License-Identifier: MIT */
#include "model.h"

#include <errno.h>
#include <string.h>

void fz_model_init(struct fz_model *m, uintptr_t base)
{
    memset(m, 0, sizeof *m);
    m->base = base;
    m->next_id = 1;
}

static bool valid_range(uintptr_t start, size_t size)
{
    return size != 0 && (u128)start + size <= UINTPTR_MAX;
}

/* The window offsets [*lo, *hi) of [start, end); false if none. */
static bool clip(const struct fz_model *m, u128 start, u128 end, size_t *lo, size_t *hi)
{
    u128 b = m->base, w_end = b + FZ_W;
    u128 a = start > b ? start : b, z = end < w_end ? end : w_end;

    if (a >= z)
        return false;
    *lo = (size_t)(a - b);
    *hi = (size_t)(z - b);
    return true;
}

/* The pieces of areas inside [start, end), in order: piece i is [lo[i], hi[i]). */
static size_t pieces(const struct fz_model *m, u128 start, u128 end, size_t *lo, size_t *hi)
{
    size_t a, z, n = 0;

    if (!clip(m, start, end, &a, &z))
        return 0;
    for (size_t i = a; i < z;) {
        if (!m->id[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < z && m->id[j] == m->id[i])
            j++;
        lo[n] = i, hi[n] = j, n++;
        i = j;
    }
    return n;
}

/* The backend call the library is expected to make next. */
static int call(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                enum fz_kind kind, int be, uintptr_t start, size_t size, unsigned flags)
{
    int rc = fz_fault(f, e->ncalls);

    if (!rc && !fz_inside(m->base, start, size))
        rc = -EFAULT;
    if (e->ncalls < FZ_MAXCALLS)
        e->calls[e->ncalls] = (struct fz_call){ kind, be, start, size, flags, rc };
    e->ncalls++;
    for (size_t i = start - m->base; !rc && i < start - m->base + size; i++) {
        m->pt_mapped[i] = kind != FZ_UNMAP;
        m->pt_flags[i] = kind == FZ_UNMAP ? 0 : flags;
    }
    return rc;
}

static void begin(struct fz_expect *e)
{
    e->rc = 0;
    e->ncalls = 0;
    e->nupd = 0;
}

/* Unmap the pieces of areas in [start, end) in order, stopping at the first
 * failure: the pieces before it are gone, it and the rest stay. */
static int unmap_pieces(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                        u128 start, u128 end)
{
    size_t lo[FZ_W], hi[FZ_W], n = pieces(m, start, end, lo, hi);

    for (size_t p = 0; p < n; p++) {
        int rc = call(m, e, f, FZ_UNMAP, m->be[lo[p]], m->base + lo[p], hi[p] - lo[p], 0);
        if (rc)
            return rc;
        for (size_t i = lo[p]; i < hi[p]; i++)
            m->id[i] = 0;
    }
    return 0;
}

static void fill(struct fz_model *m, uintptr_t start, size_t size, unsigned flags, int be,
                 uintptr_t udata)
{
    uint32_t id = m->next_id++;

    for (size_t i = start - m->base; i < start - m->base + size; i++) {
        m->id[i] = id;
        m->flags[i] = flags;
        m->be[i] = (uint8_t)be;
        m->udata[i] = udata;
    }
}

void fz_model_map(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                  uintptr_t start, size_t size, unsigned flags, int be, uintptr_t udata,
                  bool unmap_overlap)
{
    size_t lo[FZ_W], hi[FZ_W];

    begin(e);
    if (be < 0 || !valid_range(start, size)) {
        e->rc = -EINVAL;
        return;
    }
    u128 end = (u128)start + size;
    if (pieces(m, start, end, lo, hi) && !unmap_overlap) {
        e->rc = -EEXIST;
        return;
    }
    if ((e->rc = unmap_pieces(m, e, f, start, end)))
        return;
    if ((e->rc = call(m, e, f, FZ_MAP, be, start, size, flags)))
        return;
    fill(m, start, size, flags, be, udata);
}

void fz_model_unmap(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                    uintptr_t start, size_t size)
{
    begin(e);
    if (!valid_range(start, size)) {
        e->rc = -EINVAL;
        return;
    }
    e->rc = unmap_pieces(m, e, f, start, (u128)start + size);
}

void fz_model_clear(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f)
{
    begin(e);
    /* Whole areas, in order; an area never reaches past the window. */
    e->rc = unmap_pieces(m, e, f, 0, (u128)UINTPTR_MAX + 1);
}

void fz_model_protect(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                      uintptr_t start, size_t size, bool have_update, unsigned k)
{
    size_t lo[FZ_W], hi[FZ_W], n;
    struct { size_t lo, hi; unsigned old, nf; int be; bool done; } ch[FZ_W];
    size_t nc = 0, ok = 0;

    begin(e);
    if (!have_update || !valid_range(start, size)) {
        e->rc = -EINVAL;
        return;
    }
    n = pieces(m, start, (u128)start + size, lo, hi);
    /* update() once per area touched, in order. */
    for (size_t p = 0; p < n; p++) {
        unsigned old = m->flags[lo[p]], nf = old;
        e->upd_old[e->nupd++] = old;
        if (!fz_decide(old, &nf, k) || nf == old)
            continue;
        ch[nc].lo = lo[p], ch[nc].hi = hi[p], ch[nc].old = old, ch[nc].nf = nf;
        ch[nc].be = m->be[lo[p]], ch[nc].done = false;
        nc++;
    }
    /* Protect in order; on failure protect back the failing range, then what
     * was done, last first. */
    for (; ok < nc; ok++) {
        e->rc = call(m, e, f, FZ_PROTECT, ch[ok].be, m->base + ch[ok].lo, ch[ok].hi - ch[ok].lo,
                     ch[ok].nf);
        if (e->rc)
            break;
        ch[ok].done = true;
    }
    if (e->rc) {
        /* The failing range is protected back first, result ignored. */
        call(m, e, f, FZ_PROTECT, ch[ok].be, m->base + ch[ok].lo, ch[ok].hi - ch[ok].lo, ch[ok].old);
        for (size_t i = ok; i-- > 0;)
            if (call(m, e, f, FZ_PROTECT, ch[i].be, m->base + ch[i].lo, ch[i].hi - ch[i].lo,
                     ch[i].old) == 0)
                ch[i].done = false;
    }
    /* The set records what the backend has: each changed piece is an area. */
    for (size_t c = 0; c < nc; c++) {
        if (!ch[c].done)
            continue;
        uint32_t id = m->next_id++;
        for (size_t i = ch[c].lo; i < ch[c].hi; i++)
            m->id[i] = id, m->flags[i] = ch[c].nf;
    }
}

static int free_area_args(uintptr_t hint, size_t size, uintptr_t limit_start,
                          uintptr_t limit_end, size_t align)
{
    if (size == 0 || align == 0 || (align & (align - 1)) || size % align)
        return -EINVAL;
    if (limit_start > limit_end || hint > limit_end)
        return -EINVAL;
    return 0;
}

int fz_model_find_free_area(const struct fz_model *m, uintptr_t hint, size_t size,
                            uintptr_t limit_start, uintptr_t limit_end, size_t align,
                            uintptr_t *out)
{
    int rc = free_area_args(hint, size, limit_start, limit_end, align);

    if (rc)
        return rc;
    u128 lo = hint > limit_start ? hint : limit_start;
    u128 c = (lo + align - 1) / align * align;
    /* Try aligned starts upwards; a used byte moves the next try past it. */
    while (c + size <= limit_end) {
        size_t a, z;
        bool used = false;
        if (clip(m, c, c + size, &a, &z)) {
            for (size_t i = z; i-- > a;) {
                if (m->id[i]) {
                    c = ((u128)m->base + i + 1 + align - 1) / align * align;
                    used = true;
                    break;
                }
            }
        }
        if (!used) {
            *out = (uintptr_t)c;
            return 0;
        }
    }
    return -ENOMEM;
}

void fz_model_map_anywhere(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                           uintptr_t hint, size_t size, uintptr_t limit_start,
                           uintptr_t limit_end, size_t align, unsigned flags, int be,
                           uintptr_t udata)
{
    begin(e);
    if (be < 0) {
        e->rc = -EINVAL;
        return;
    }
    if ((e->rc = fz_model_find_free_area(m, hint, size, limit_start, limit_end, align, &e->out)))
        return;
    if ((e->rc = call(m, e, f, FZ_MAP, be, e->out, size, flags)))
        return;
    fill(m, e->out, size, flags, be, udata);
}

static void area_at(const struct fz_model *m, size_t i, struct mset_area *out)
{
    size_t a = i, z = i;

    while (a > 0 && m->id[a - 1] == m->id[i])
        a--;
    while (z < FZ_W && m->id[z] == m->id[i])
        z++;
    *out = (struct mset_area){ .start = m->base + a, .end = m->base + z, .flags = m->flags[i],
                               .backend = &fz_backend[m->be[i]], .udata = (void *)m->udata[i] };
}

bool fz_model_find(const struct fz_model *m, uintptr_t addr, struct mset_area *out)
{
    if (!fz_inside(m->base, addr, 1) || !m->id[addr - m->base])
        return false;
    area_at(m, addr - m->base, out);
    return true;
}

bool fz_model_find_next(const struct fz_model *m, uintptr_t addr, struct mset_area *out)
{
    size_t lo, hi;

    if (!clip(m, addr, (u128)UINTPTR_MAX + 1, &lo, &hi))
        return false;
    for (size_t i = lo; i < hi; i++) {
        if (m->id[i]) {
            area_at(m, i, out);
            return true;
        }
    }
    return false;
}

bool fz_model_overlaps(const struct fz_model *m, uintptr_t start, size_t size, int *err)
{
    size_t lo[FZ_W], hi[FZ_W];

    *err = 0;
    if (size == 0)
        return false;
    if (!valid_range(start, size)) {
        *err = EINVAL;
        return false;
    }
    return pieces(m, start, (u128)start + size, lo, hi) > 0;
}

size_t fz_model_areas(const struct fz_model *m, struct mset_area *out)
{
    size_t n = 0;

    for (size_t i = 0; i < FZ_W; i++) {
        if (m->id[i] && (i == 0 || m->id[i - 1] != m->id[i]))
            area_at(m, i, &out[n++]);
    }
    return n;
}
