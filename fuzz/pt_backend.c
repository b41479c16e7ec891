/* SPDX-License-Identifier: MIT */
#include "pt_backend.h"

#include <errno.h>

void fz_pt_begin(struct fz_pt *pt, const struct fz_faults *f)
{
    pt->faults = *f;
    pt->ncalls = 0;
}

/* Log the call; 0 if it may proceed (the same rule as the model's). */
static int begin(const struct mset_backend *be, struct fz_pt *pt, enum fz_kind kind,
                 uintptr_t start, size_t size, unsigned flags)
{
    int i = pt->ncalls++;
    int rc = fz_fault(&pt->faults, i);

    if (!rc && !fz_inside(pt->base, start, size))
        rc = -EFAULT;
    if (i < FZ_LOG)
        pt->log[i] = (struct fz_call){ kind, fz_backend_index(be), start, size, flags, rc };
    return rc;
}

static int pt_map(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                  unsigned flags)
{
    struct fz_pt *pt = p;
    int rc = begin(be, pt, FZ_MAP, start, size, flags);

    for (size_t i = start - pt->base; !rc && i < start - pt->base + size; i++) {
        pt->violations += pt->mapped[i];
        pt->mapped[i] = true;
        pt->flags[i] = flags;
    }
    return rc;
}

static int pt_unmap(const struct mset_backend *be, void *p, uintptr_t start, size_t size)
{
    struct fz_pt *pt = p;
    int rc = begin(be, pt, FZ_UNMAP, start, size, 0);

    for (size_t i = start - pt->base; !rc && i < start - pt->base + size; i++) {
        pt->violations += !pt->mapped[i];
        pt->mapped[i] = false;
        pt->flags[i] = 0;
    }
    return rc;
}

static int pt_protect(const struct mset_backend *be, void *p, uintptr_t start, size_t size,
                      unsigned flags)
{
    struct fz_pt *pt = p;
    int rc = begin(be, pt, FZ_PROTECT, start, size, flags);

    for (size_t i = start - pt->base; !rc && i < start - pt->base + size; i++) {
        pt->violations += !pt->mapped[i];
        pt->flags[i] = flags;
    }
    return rc;
}

const struct mset_backend fz_backend[2] = {
    { pt_map, pt_unmap, pt_protect },
    { pt_map, pt_unmap, pt_protect },
};
