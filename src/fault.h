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

#endif
