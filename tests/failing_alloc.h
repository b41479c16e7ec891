/* SPDX-License-Identifier: MIT */
/*
 * A struct mset_allocator that counts what is live and can be told to refuse
 * allocations: the k-th one from now, or every one from the k-th on.  Tests
 * use it to prove that -ENOMEM changes nothing and that nothing leaks.
 */
#ifndef MSET_TESTS_FAILING_ALLOC_H
#define MSET_TESTS_FAILING_ALLOC_H

#include <stdbool.h>

#include "mset.h"

struct failing_alloc {
    long live;     /* atomic: blocks allocated and not yet freed */
    long bytes;    /* atomic: their total size */
    long calls;    /* allocation attempts (writer threads only) */
    long failed;   /* attempts refused */
    long fail_at;  /* index (in calls) of the first refusal; -1: never */
    bool sticky;   /* refuse every attempt from fail_at on */
    bool pin_set;  /* serve the next allocation from a static buffer */
    void *pinned;  /* that buffer, while in use */
};

/* An allocator that never fails until armed. */
struct mset_allocator failing_alloc_init(struct failing_alloc *fa);
/* Refuse the allocation `after` attempts from now (0: the next one), and
 * every one after it too if sticky. */
void failing_alloc_arm(struct failing_alloc *fa, long after, bool sticky);
void failing_alloc_disarm(struct failing_alloc *fa);
/* Serve the set itself (the first allocation of mset_new_with_allocator())
 * from a static buffer, the same in every run: the library seeds its
 * skip-list heights from the set's address, so runs then allocate alike. */
void failing_alloc_pin_set(struct failing_alloc *fa);
long failing_alloc_live(const struct failing_alloc *fa);
long failing_alloc_bytes(const struct failing_alloc *fa);

#endif
