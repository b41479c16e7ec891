/* SPDX-License-Identifier: MIT */
#include "slab.h"

/*
 * AddressSanitizer sees the blocks, not the slots: a reader that touches a
 * slot freed too early (debug_bug=no_grace), or a writer that uses a stale
 * node, would read recycled memory without a report.  Free and never-used
 * slots are poisoned, so ASan reports any access to them.  Nothing outside
 * ASan builds.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define slot_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define slot_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define slot_poison(p, n) ((void)(p), (void)(n))
#define slot_unpoison(p, n) ((void)(p), (void)(n))
#endif

#include <stdbool.h>

/*
 * A block: SLAB_SLOTS slots from a 64-byte boundary, then this header, so a
 * slot finds its block from its index without storing a pointer.
 */
struct slab_block {
    struct slab_block *prev, *next;         /* the class's partial list */
    struct slab_block *all_prev, *all_next; /* every block */
    void *raw;                              /* what the allocator returned */
    size_t raw_size;
    void *free;       /* freed slots, linked through their first word */
    unsigned nfree;   /* free slots, never-used ones included */
    unsigned bump;    /* slots [bump, SLAB_SLOTS) were never used */
    int cls;
};

static inline size_t slot_size(int cls)
{
    return (size_t)(cls + 1) * SLAB_ALIGN;
}

static inline char *slots_of(struct slab_block *b)
{
    return (char *)b - SLAB_SLOTS * slot_size(b->cls);
}

void slab_init(struct slab *sb, const struct mset_allocator *alloc)
{
    pthread_mutex_init(&sb->lock, NULL);
    sb->alloc = alloc;
    for (int c = 0; c < SLAB_CLASSES; c++)
        sb->partial[c] = NULL;
    sb->all = NULL;
}

static void partial_push(struct slab *sb, struct slab_block *b)
{
    b->prev = NULL;
    b->next = sb->partial[b->cls];
    if (b->next)
        b->next->prev = b;
    sb->partial[b->cls] = b;
}

static void partial_remove(struct slab *sb, struct slab_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        sb->partial[b->cls] = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static struct slab_block *block_new(struct slab *sb, int cls)
{
    size_t size = SLAB_ALIGN - 1 + SLAB_SLOTS * slot_size(cls) + sizeof(struct slab_block);
    void *raw = sb->alloc->alloc(sb->alloc->ctx, size);

    if (!raw)
        return NULL;
    uintptr_t slots = ((uintptr_t)raw + SLAB_ALIGN - 1) & ~(uintptr_t)(SLAB_ALIGN - 1);
    struct slab_block *b = (struct slab_block *)(slots + SLAB_SLOTS * slot_size(cls));
    *b = (struct slab_block){ .raw = raw, .raw_size = size, .nfree = SLAB_SLOTS, .cls = cls };
    slot_poison(slots_of(b), SLAB_SLOTS * slot_size(cls));
    b->all_next = sb->all;
    if (sb->all)
        sb->all->all_prev = b;
    sb->all = b;
    partial_push(sb, b);
    return b;
}

static void block_free(struct slab *sb, struct slab_block *b)
{
    if (b->all_prev)
        b->all_prev->all_next = b->all_next;
    else
        sb->all = b->all_next;
    if (b->all_next)
        b->all_next->all_prev = b->all_prev;
    slot_unpoison(slots_of(b), SLAB_SLOTS * slot_size(b->cls));
    sb->alloc->free(sb->alloc->ctx, b->raw, b->raw_size);
}

void *slab_alloc_locked(struct slab *sb, int cls, uint8_t *index)
{
    struct slab_block *b = sb->partial[cls];

    if (!b && !(b = block_new(sb, cls)))
        return NULL;
    char *slot;
    if (b->free) {
        slot = b->free;
        slot_unpoison(slot, slot_size(cls));
        b->free = *(void **)slot;
    } else {
        slot = slots_of(b) + b->bump++ * slot_size(cls);
        slot_unpoison(slot, slot_size(cls));
    }
    if (--b->nfree == 0)
        partial_remove(sb, b);
    *index = (uint8_t)((slot - slots_of(b)) / slot_size(cls));
    return slot;
}

void slab_free_locked(struct slab *sb, void *slot, int cls, uint8_t index)
{
    struct slab_block *b =
        (struct slab_block *)((char *)slot + (SLAB_SLOTS - index) * slot_size(cls));

    *(void **)slot = b->free;
    b->free = slot;
    slot_poison(slot, slot_size(cls));
    if (++b->nfree == 1)
        partial_push(sb, b);
    /* Keep one block with free slots per class, so that churn around a
     * block boundary does not allocate and free a block each time. */
    if (b->nfree == SLAB_SLOTS && (b->prev || b->next)) {
        partial_remove(sb, b);
        block_free(sb, b);
    }
}

void slab_destroy(struct slab *sb)
{
#ifdef MSET_FAULT_INJECTION
    for (struct slab_block *b = sb->all; b; b = b->all_next)
        mset_fault_note_leaked_slots((long)(SLAB_SLOTS - b->nfree));
#endif
    while (sb->all)
        block_free(sb, sb->all);
    pthread_mutex_destroy(&sb->lock);
}
