/* SPDX-License-Identifier: MIT */
#include "mock_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int begin(struct mock_pt *pt, enum mock_op op, uintptr_t start, size_t size, unsigned flags)
{
    if (pt->nlog < MOCK_LOG)
        pt->log[pt->nlog++] = (struct mock_call){ op, start, start + size, flags };
    if (start + size > MOCK_SPAN || start + size < start) {
        pt->violations++;
        return -EFAULT;
    }
    if (pt->fail_op == op && pt->calls[op] >= pt->fail_after) {
        if (!pt->fail_sticky)
            pt->fail_op = MOCK_NONE;
        return pt->fail_errno;
    }
    pt->calls[op]++;
    return 0;
}

static int mock_map(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                    unsigned flags)
{
    struct mock_pt *pt = p;
    int rc = begin(pt, MOCK_MAP, start, size, flags);

    (void)be;
    if (rc)
        return rc;
    for (uintptr_t a = start; a < start + size; a++) {
        if (pt->mapped[a])
            pt->violations++;
        pt->mapped[a] = true;
        pt->flags[a] = flags;
    }
    return 0;
}

static int mock_unmap(const struct mset_backend *be, void *p, uintptr_t start, size_t size)
{
    struct mock_pt *pt = p;
    int rc = begin(pt, MOCK_UNMAP, start, size, 0);

    (void)be;
    if (rc)
        return rc;
    for (uintptr_t a = start; a < start + size; a++) {
        if (!pt->mapped[a])
            pt->violations++;
        pt->mapped[a] = false;
        pt->flags[a] = 0;
    }
    return 0;
}

static int mock_protect(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                        unsigned flags)
{
    struct mock_pt *pt = p;
    int rc = begin(pt, MOCK_PROTECT, start, size, flags);

    (void)be;
    if (rc && rc != -EFAULT && pt->fail_partial) {
        for (uintptr_t a = start; a < start + size / 2; a++)
            pt->flags[a] = flags;
    }
    if (rc)
        return rc;
    for (uintptr_t a = start; a < start + size; a++) {
        if (!pt->mapped[a])
            pt->violations++;
        pt->flags[a] = flags;
    }
    return 0;
}

static int nop_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                   unsigned flags)
{
    (void)be, (void)pt, (void)start, (void)size, (void)flags;
    return 0;
}

static int nop_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    (void)be, (void)pt, (void)start, (void)size;
    return 0;
}

const struct mset_backend nop_backend = { nop_map, nop_unmap, nop_map };

const struct mset_backend mock_backend = { mock_map, mock_unmap, mock_protect };
const struct mset_backend mock_backend2 = { mock_map, mock_unmap, mock_protect };

struct mock_pt *mock_pt_new(void)
{
    struct mock_pt *pt = calloc(1, sizeof *pt);

    if (!pt)
        abort();
    return pt;
}

void mock_pt_free(struct mock_pt *pt)
{
    free(pt);
}

void mock_fail(struct mock_pt *pt, enum mock_op op, int after, int err)
{
    pt->fail_op = op;
    pt->fail_after = pt->calls[op] + after;
    pt->fail_errno = err;
}

void mock_log_reset(struct mock_pt *pt)
{
    pt->nlog = 0;
}

bool mock_range_is(const struct mock_pt *pt, uintptr_t start, uintptr_t end, bool mapped,
                   unsigned flags)
{
    for (uintptr_t a = start; a < end; a++) {
        if (pt->mapped[a] != mapped || (mapped && pt->flags[a] != flags))
            return false;
    }
    return true;
}

struct cmp {
    const struct mock_pt *pt;
    uintptr_t next; /* first byte not yet compared */
    bool ok;
};

static int cmp_area(const struct mset_area *a, void *arg)
{
    struct cmp *c = arg;

    if (a->end > MOCK_SPAN || !mock_range_is(c->pt, c->next, a->start, false, 0) ||
        !mock_range_is(c->pt, a->start, a->end, true, a->flags)) {
        fprintf(stderr, "page table disagrees with area [%#lx, %#lx) flags %u\n",
                (unsigned long)a->start, (unsigned long)a->end, a->flags);
        c->ok = false;
        return 1;
    }
    c->next = a->end;
    return 0;
}

bool mock_matches_set(const struct mock_pt *pt, mset_t *s)
{
    struct cmp c = { pt, 0, true };

    mset_foreach(s, cmp_area, &c);
    return c.ok && mock_range_is(pt, c.next, MOCK_SPAN, false, 0);
}
