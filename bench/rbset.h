/* SPDX-License-Identifier: MIT */
/*
 * rbset: the baseline a runtime author would otherwise write.  The same
 * memory-set semantics as mset (include/mset.h: map with or without
 * replacing, unmap that shrinks and splits, protect that splits, the same
 * backend calls in the same order, the same errors and the same failure
 * rules), on a red-black tree from libbsd's <bsd/sys/tree.h> augmented with
 * the largest free gap of each subtree (as Linux's VMA tree was), guarded by
 * one lock: a pthread_rwlock (readers share it) or a pthread_mutex
 * (everything serializes).
 *
 * Every function takes the lock: readers in read mode, writers in write mode.
 * Nothing here is lock-free or async-signal-safe.  A foreach callback runs
 * under the lock and must not call rbset functions.
 */
#ifndef MSET_BENCH_RBSET_H
#define MSET_BENCH_RBSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mset.h"

enum rbset_lock { RBSET_RWLOCK, RBSET_MUTEX };

struct rbset;

/* NULL with errno = ENOMEM on failure; a NULL allocator means malloc. */
struct rbset *rbset_new(enum rbset_lock mode, void *pt, const struct mset_allocator *a);
void rbset_destroy(struct rbset *s);

int rbset_map(struct rbset *s, uintptr_t start, size_t size, unsigned flags,
              const struct mset_backend *be, void *udata, bool unmap_overlap);
int rbset_unmap(struct rbset *s, uintptr_t start, size_t size);
int rbset_protect(struct rbset *s, uintptr_t start, size_t size,
                  bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg), void *arg);

bool rbset_find(struct rbset *s, uintptr_t addr, struct mset_area *out);
bool rbset_find_next(struct rbset *s, uintptr_t addr, struct mset_area *out);
bool rbset_overlaps(struct rbset *s, uintptr_t start, size_t size);
int rbset_find_free_area(struct rbset *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                         uintptr_t limit_end, size_t align, uintptr_t *out);
size_t rbset_len(struct rbset *s);
int rbset_foreach(struct rbset *s, int (*fn)(const struct mset_area *a, void *arg), void *arg);

/* Verify order, red-black shape, gap summaries and count: 0 or -EUCLEAN. */
int rbset_check(struct rbset *s);

#endif
