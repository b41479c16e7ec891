/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for the out-of-memory tests; only in libraries built with
 * meson -Dfault_injection=true.  Not part of the public API.
 */
#ifndef MSET_FAULT_H
#define MSET_FAULT_H

#include "mset.h"

/* Fail the k-th allocation from now (k = 0: the next one), counting calls to
 * every set's allocator and node slots taken from a set's slab; k < 0 turns
 * injection off.  Each injection fails one allocation. */
MSET_API void mset_fault_inject(long k);

/* How many allocations are left before the injected failure; -1 once it has
 * happened (or with injection off).  A test reads it before and after an
 * operation to know whether that operation met the failure. */
MSET_API long mset_fault_pending(void);

/* Node slots still in use when their set was destroyed, summed over every
 * set destroyed so far: mset_destroy() frees every node first, so anything
 * here is a node leaked by an error path (the slab's blocks themselves go
 * back to the allocator regardless, so an allocator's count cannot see it). */
MSET_API long mset_fault_leaked_slots(void);

#endif
