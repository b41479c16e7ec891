/* SPDX-License-Identifier: MIT */
/* The set object and the helpers shared by the library's source files. */
#ifndef MSET_INTERNAL_H
#define MSET_INTERNAL_H

#include <ck_sequence.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mset.h"
#include "skiplist.h"
#include "slab.h"

#define MSET_HIDDEN __attribute__((visibility("hidden")))

struct mset {
    struct skiplist sl;
    pthread_mutex_t lock; /* serializes writers */
    ck_sequence_t seq;    /* odd while a writer publishes; for mset_snapshot() */
    uint64_t version;     /* atomic; +1 after each publication; for cursors */
    void *pt;             /* handed to backends */
    struct mset_allocator alloc;
    struct slab slab;     /* node memory, drawn from alloc */
    void *head_mem;       /* the head's allocation (aligned inside by hand) */
    /* Retired nodes waiting to be handed to call_rcu; under lock. */
    struct sl_node *limbo;
    size_t nlimbo;
    /* call_rcu batches not yet freed; mset_destroy() waits for zero. */
    pthread_mutex_t drain_lock;
    pthread_cond_t drain_cv;
    size_t batches;
    /* Writer operations finished, each counted after it published and
     * before it released `lock`.  A backend called during operation n
     * (writes_done == n - 1 then) knows the set shows its change once
     * writes_done >= n: the userfaultfd handler waits for that. */
    uint64_t writes_done;
};

/* alloc.c: the one place the set's memory comes from. */
MSET_HIDDEN void *mset_mem_alloc(const mset_t *s, size_t size);
MSET_HIDDEN void mset_mem_free(const mset_t *s, void *p, size_t size);
MSET_HIDDEN struct sl_node *mset_node_alloc(mset_t *s, uintptr_t start, uintptr_t end);
MSET_HIDDEN void mset_node_free(mset_t *s, struct sl_node *x);
/* Free a chain of nodes linked by retire_next. */
MSET_HIDDEN void mset_node_free_chain(mset_t *s, struct sl_node *chain);

/* rcu.c and rcu.h: the only places that talk to liburcu. */
/* Retire a chain of unlinked nodes (linked by retire_next); writer. */
MSET_HIDDEN void mset_rcu_retire(mset_t *s, struct sl_node *chain);
MSET_HIDDEN void mset_rcu_init(mset_t *s);
/* Free every retired node of s, waiting for grace periods; mset_destroy(). */
MSET_HIDDEN void mset_rcu_drain(mset_t *s);

#endif /* MSET_INTERNAL_H */
