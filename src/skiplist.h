/* SPDX-License-Identifier: MIT */
/*
 * The RCU skip list of areas.  See the essay at the top of skiplist.c for the
 * invariants and the memory-ordering argument.
 *
 * Readers (sl_floor, sl_find_gap, sl_next0) must run inside an RCU read-side
 * section.  Writers (everything else) must hold the set's writer mutex.
 */
#ifndef MSET_SKIPLIST_H
#define MSET_SKIPLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

struct mset_backend;

/* Link-level names carry the mset_ prefix, so that a static libmset.a cannot
 * clash with an embedder's symbols. */
#define sl_advance mset_sl_advance
#define sl_check mset_sl_check
#define sl_find_gap mset_sl_find_gap
#define sl_fix_gaps mset_sl_fix_gaps
#define sl_floor mset_sl_floor
#define sl_init mset_sl_init
#define sl_node_init mset_sl_node_init
#define sl_random_height mset_sl_random_height
#define sl_replace mset_sl_replace
#define sl_seek mset_sl_seek

#define SL_MAXH 32 /* 2^32 areas before the top level fills, with p = 1/2 */

/* One link of a tower above level 0. */
struct sl_level {
    struct sl_node *next; /* atomic; NULL at the end of the level */
    uintptr_t key;        /* atomic; next->start, or UINTPTR_MAX when next is NULL */
};

/*
 * A node is one version of one area.  The area fields are immutable once the
 * node is published: a change to an area publishes a new node and retires the
 * old one.  The links are the only mutable shared fields.
 *
 * Layout.  A reader moving right reads the start, end and links of the node
 * it lands on and nothing else, so those are packed together at the front
 * of the allocation: the links of levels 1..height-1 lie just below the node
 * (sl_up(x, i) == (struct sl_level *)x - i), then start, end and the level-0
 * link; the area payload follows, and the gap summaries, which only
 * find_free_area and writers read, come last.  A node of height <= 3 keeps
 * everything a search reads in 64 bytes.
 *
 *   base -> link[h-1] .. link[1] | x -> start end next0 key0 | flags height
 *           backend udata retire_next | maxgap[1] .. maxgap[h-1]
 */
struct sl_node {
    uintptr_t start;       /* immutable */
    uintptr_t end;         /* immutable; start < end, except for the head (0, 0) */
    struct sl_node *next0; /* atomic; level-0 link */
    uintptr_t key0;        /* atomic; next0->start, or UINTPTR_MAX */
    unsigned flags;        /* immutable payload, opaque to the skip list */
    uint8_t height;        /* immutable; 1..SL_MAXH */
    uint8_t alloc_tag;     /* alloc.c's: where the node's memory came from */
    const struct mset_backend *backend; /* immutable payload */
    void *udata;           /* immutable payload */
    struct sl_node *retire_next; /* writer-private: retire chains, old runs */
};

_Static_assert(sizeof(struct sl_node) == 64, "a node of height 1 fills one slab slot");

struct skiplist {
    /* Read by every search: kept apart from what writers store on every
     * operation (false sharing halved a reader's speed under churn). */
    struct sl_node *head; /* sentinel of height SL_MAXH, never an area */
    int top;              /* atomic; highest level that may hold a node */
    char read_mostly_end[64 - sizeof(struct sl_node *) - sizeof(int)];
    size_t len;           /* atomic; number of areas */
    uint64_t rng;         /* writer-private */
    int touched;          /* writer-private: tallest node linked or unlinked
                             since the last sl_fix_gaps() */
};

/* Writer's position: pred[i] is the last node of level i with start < key. */
struct sl_finger {
    struct sl_node *pred[SL_MAXH];
};

static inline struct sl_level *sl_up(const struct sl_node *x, int i)
{
    return (struct sl_level *)x - i;
}

/*
 * Where the gap summaries begin, from the start of the allocation.  Writers
 * store them on most operations, while every search reads the links and the
 * front of the node: in a 64-byte-aligned allocation they get a cache line
 * of their own (for heights <= 3 they already start past the line holding
 * the links and the front; from height 4 on they are pushed to the next one),
 * so a churning writer does not steal the lines readers need.
 */
static inline size_t sl_maxgap_offset(unsigned height)
{
    size_t front = (height - 1) * sizeof(struct sl_level) + sizeof(struct sl_node);

    return height <= 3 ? front : (front + 63) & ~(size_t)63;
}

/* Largest level-0 gap of the nodes in [x, x's level-i successor), i >= 1. */
static inline uintptr_t *sl_maxgap(const struct sl_node *x, int i)
{
    char *base = (char *)x - (x->height - 1) * sizeof(struct sl_level);

    return (uintptr_t *)(base + sl_maxgap_offset(x->height)) + (i - 1);
}

static inline size_t sl_node_size(unsigned height)
{
    return sl_maxgap_offset(height) + (height - 1) * sizeof(uintptr_t);
}

/* The allocation that holds x (its links are below it). */
static inline void *sl_node_base(struct sl_node *x)
{
    return (char *)x - (x->height - 1) * sizeof(struct sl_level);
}

/* Turn an allocation of sl_node_size(height) bytes into an unlinked node. */
struct sl_node *sl_node_init(void *mem, unsigned height, uintptr_t start, uintptr_t end);

/* Acquire pairs with the release store that linked the successor. */
static inline struct sl_node *sl_next0(const struct sl_node *x)
{
    return atomic_load_acquire(&x->next0);
}

/* ------------------------------------------------------------------ readers */

/* The last node with start <= addr (the head if none). */
struct sl_node *sl_floor(const struct skiplist *sl, uintptr_t addr);

/* Lowest aligned start >= lo with [start, start + size) <= hi in a gap. */
int sl_find_gap(const struct skiplist *sl, uintptr_t lo, uintptr_t hi, size_t size,
                size_t align, uintptr_t *out);

/* ------------------------------------------------------------------ writers */

void sl_init(struct skiplist *sl, struct sl_node *head, uint64_t seed);
unsigned sl_random_height(struct skiplist *sl);
void sl_seek(const struct skiplist *sl, uintptr_t key, struct sl_finger *f);
void sl_advance(const struct skiplist *sl, uintptr_t key, struct sl_finger *f);

/*
 * Replace a run of consecutive nodes by new ones, so that every concurrent
 * reader finds, for every address, its old or its new area (see skiplist.c).
 * @f: positioned (sl_seek/sl_advance) at a key <= the first old and new start.
 * @old: the old nodes in address order, chained through retire_next (NULL if
 *       none).  They stay chained for the caller to retire.
 * @nv, @nnew: the new nodes, sorted, non-overlapping, unlinked.
 * The gap summaries are left as upper bounds; call sl_fix_gaps() once after
 * the last replacement of an operation.
 */
void sl_replace(struct skiplist *sl, const struct sl_finger *f, struct sl_node *old,
                struct sl_node *const *nv, size_t nnew);

/* Recompute the gap summaries of every span from f up to the first node
 * with start >= hi. */
void sl_fix_gaps(struct skiplist *sl, const struct sl_finger *f, uintptr_t hi);

/* Check every invariant; 0 or -EUCLEAN with a message on stderr. */
int sl_check(const struct skiplist *sl);

#endif /* MSET_SKIPLIST_H */
