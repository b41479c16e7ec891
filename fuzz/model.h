/* SPDX-License-Identifier: MIT */
/*
 * The reference model: deliberately simple, one entry per byte of the window,
 * arithmetic in 128 bits so that nothing wraps.  Each byte records the area
 * it belongs to (an id: areas are split, never merged, so an area is a
 * maximal run of one id), its flags, backend and user pointer.  The model
 * also keeps its own copy of the backend's page table, changed by the
 * backend calls it expects the library to make, and it follows the header's
 * "On failure" paragraphs to the letter.
 */
#ifndef MSET_FUZZ_MODEL_H
#define MSET_FUZZ_MODEL_H

#include "window.h"

#define FZ_MAXCALLS 1024

struct fz_model {
    uintptr_t base;
    uint32_t id[FZ_W]; /* 0: free */
    unsigned flags[FZ_W];
    uint8_t be[FZ_W];
    uintptr_t udata[FZ_W];
    uint32_t next_id;
    bool pt_mapped[FZ_W];
    unsigned pt_flags[FZ_W];
};

/* What one operation is expected to do. */
struct fz_expect {
    int rc;
    int ncalls;
    struct fz_call calls[FZ_MAXCALLS];
    int nupd;                 /* protect: old flags passed to update(), in order */
    unsigned upd_old[FZ_W];
    uintptr_t out;            /* find_free_area, map_anywhere */
};

void fz_model_init(struct fz_model *m, uintptr_t base);

/* Writers: apply to m, describe in e.  be: 0, 1, or -1 for a NULL backend. */
void fz_model_map(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                  uintptr_t start, size_t size, unsigned flags, int be, uintptr_t udata,
                  bool unmap_overlap);
void fz_model_unmap(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                    uintptr_t start, size_t size);
void fz_model_protect(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                      uintptr_t start, size_t size, bool have_update, unsigned k);
void fz_model_clear(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f);
void fz_model_map_anywhere(struct fz_model *m, struct fz_expect *e, const struct fz_faults *f,
                           uintptr_t hint, size_t size, uintptr_t limit_start,
                           uintptr_t limit_end, size_t align, unsigned flags, int be,
                           uintptr_t udata);

/* Readers. */
bool fz_model_find(const struct fz_model *m, uintptr_t addr, struct mset_area *out);
bool fz_model_find_next(const struct fz_model *m, uintptr_t addr, struct mset_area *out);
bool fz_model_overlaps(const struct fz_model *m, uintptr_t start, size_t size, int *err);
int fz_model_find_free_area(const struct fz_model *m, uintptr_t hint, size_t size,
                            uintptr_t limit_start, uintptr_t limit_end, size_t align,
                            uintptr_t *out);
/* The areas in address order; returns how many. */
size_t fz_model_areas(const struct fz_model *m, struct mset_area *out);

#endif
