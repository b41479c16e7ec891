/* SPDX-License-Identifier: MIT */
/*
 * A slab of cache-line-aligned slots, one per set, for skip-list nodes.
 *
 * A search reads the front of each node it visits; slots aligned to 64 bytes
 * keep that front in one cache line (malloc's 16-byte alignment splits it
 * about a third of the time, see docs/design.md).  Slots come in classes of
 * 64, 128, ... bytes; a block holds SLAB_SLOTS slots of one class and goes
 * back to the set's allocator as soon as it is empty and not the last block
 * of its class with free slots.
 *
 * Writers allocate under the set's writer mutex, and liburcu's call_rcu
 * thread frees, so the slab has its own mutex; free runs once per retired
 * batch, not per node (slab_lock() around a loop of slab_free_locked()).
 */
#ifndef MSET_SLAB_H
#define MSET_SLAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mset.h"

/* Link-level names carry the mset_ prefix (see skiplist.h). */
#define slab_alloc_locked mset_slab_alloc_locked
#define slab_destroy mset_slab_destroy
#define slab_free_locked mset_slab_free_locked
#define slab_init mset_slab_init

#define SLAB_SLOTS 64
#define SLAB_ALIGN 64
#define SLAB_CLASSES 16 /* slots of 64 .. 1024 bytes */
#define SLAB_NONE 0xff  /* "not from a slab" */

struct slab_block;

struct slab {
    pthread_mutex_t lock;
    const struct mset_allocator *alloc;
    struct slab_block *partial[SLAB_CLASSES]; /* blocks with a free slot */
    struct slab_block *all;                   /* every block, for slab_destroy() */
};

#ifdef MSET_FAULT_INJECTION
/* alloc.c: slots a destroyed slab still had in use, for the tests (fault.h). */
void mset_fault_note_leaked_slots(long n);
#endif

void slab_init(struct slab *sb, const struct mset_allocator *alloc);
void slab_destroy(struct slab *sb);

/* The class of a slot of `size` bytes, or -1 if too big for a slab. */
static inline int slab_class(size_t size)
{
    size_t c = (size + SLAB_ALIGN - 1) / SLAB_ALIGN - 1;
    return c < SLAB_CLASSES ? (int)c : -1;
}

static inline void slab_lock(struct slab *sb)
{
    pthread_mutex_lock(&sb->lock);
}

static inline void slab_unlock(struct slab *sb)
{
    pthread_mutex_unlock(&sb->lock);
}

/* A 64-byte-aligned slot of class cls, and its index in its block; NULL if
 * the allocator fails.  Call with the slab locked. */
void *slab_alloc_locked(struct slab *sb, int cls, uint8_t *index);

/* Give back a slot from slab_alloc_locked().  Call with the slab locked. */
void slab_free_locked(struct slab *sb, void *slot, int cls, uint8_t index);

#endif /* MSET_SLAB_H */
