/* SPDX-License-Identifier: MIT */
/*
 * The page-table backend the fuzz target runs the library on: one entry per
 * byte of the window, a log of every call, contract checks, and calls that
 * fail on request (struct fz_faults).
 */
#ifndef MSET_FUZZ_PT_BACKEND_H
#define MSET_FUZZ_PT_BACKEND_H

#include "window.h"

#define FZ_LOG 1024

struct fz_pt {
    uintptr_t base;
    bool mapped[FZ_W];
    unsigned flags[FZ_W];
    struct fz_faults faults; /* for the current operation */
    int ncalls;              /* calls in the current operation */
    struct fz_call log[FZ_LOG];
    int violations;          /* map of a mapped byte, unmap/protect of a free one */
};

/* Start an operation: forget the log, arm faults. */
void fz_pt_begin(struct fz_pt *pt, const struct fz_faults *f);

#endif
