/* SPDX-License-Identifier: MIT */
/*
 * mset: a concurrent memory set.
 *
 * A memory set holds non-overlapping virtual-memory areas [start, end), each
 * with flags, a backend that really maps it, and a user pointer.  Writers
 * (map, unmap, protect, clear) split, shrink and replace areas and call the
 * backend for exactly the sub-ranges they change.  Readers (find, overlaps,
 * find_free_area, find_next, foreach, len) never take a lock and never wait
 * for a writer: areas live in a skip list protected by RCU.
 *
 * Conventions
 *   - Functions returning int return 0 on success or a negative errno.
 *   - Ranges are given as (start, size) and denote [start, start + size).  A
 *     range is valid when size > 0 and start + size does not wrap, so the
 *     last byte of the address space can never be part of an area.
 *   - The core is byte-granular: page alignment, if any, is the backend's
 *     business (the Linux backends reject unaligned ranges with -EINVAL).
 *
 * Concurrency summary (details on each function; docs/design.md has a table)
 *   - Readers may run in any number of threads, concurrently with each other
 *     and with writers.  They are lock-free: a reader never blocks, spins on,
 *     or retries because of a writer.
 *   - Writers may be called from any number of threads; they serialize on a
 *     per-set mutex, and call backends with that mutex held.
 *   - A thread needs no registration: the first read-side call in a thread
 *     registers it with the RCU library.  Call mset_thread_init() first in a
 *     thread that will look areas up from a signal handler: after it,
 *     mset_find(), mset_find_next() and mset_overlaps() are
 *     async-signal-safe in that thread.
 *
 * Guarantees for a reader running concurrently with writers (tested by
 * stress/ under ThreadSanitizer):
 *   R1. No phantom gaps: an address that is inside an area both before and
 *       after a writer operation is found by every concurrent mset_find(),
 *       even while that operation splits, shrinks or replaces the area.
 *   R2. No torn areas: every area a reader returns is one state that area
 *       really had: start, end, flags, backend and udata come from the same
 *       version of the area.  Areas are never modified in place.
 *   R3. Consistent iteration: mset_foreach() visits areas in increasing
 *       address order, no two visited areas overlap, and every area present
 *       throughout the walk is visited exactly once.
 */
#ifndef MSET_H
#define MSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(MSET_STATIC)
#define MSET_API __attribute__((visibility("default")))
#else
#define MSET_API
#endif

#define MSET_VERSION_MAJOR 0
#define MSET_VERSION_MINOR 1
#define MSET_VERSION_PATCH 0

/* Protection bits understood by the Linux backends.  The core treats flags
 * as opaque; other bits are stored and passed to backends untouched. */
#define MSET_READ  0x1u
#define MSET_WRITE 0x2u
#define MSET_EXEC  0x4u

typedef struct mset mset_t;

/*
 * A backend really maps areas.  Embed it as the first member of a larger
 * struct to carry backend data, and recover the larger struct from `be`.
 *
 * Every callback returns 0 or a negative errno.  A callback that fails must
 * leave its range as it was: the set then records exactly the sub-ranges whose
 * callbacks succeeded (see "On failure" on each writer).  `pt` is the pointer
 * given to mset_new().  Callbacks run with the set's writer mutex held, so
 * they must not call mset writers on the same set (readers are fine).
 *
 *   map:     map [start, start + size) with `flags`; the range is free in
 *            the set (any overlap was unmapped first).
 *   unmap:   unmap [start, start + size), a sub-range of one area.
 *   protect: set the flags of [start, start + size), a sub-range of one area,
 *            to `new_flags`.
 */
struct mset_backend {
    int (*map)(const struct mset_backend *be, void *pt, uintptr_t start, size_t size, unsigned flags);
    int (*unmap)(const struct mset_backend *be, void *pt, uintptr_t start, size_t size);
    int (*protect)(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                   unsigned new_flags);
};

/* A snapshot of one area, as returned to readers. */
struct mset_area {
    uintptr_t start;                   /* first byte */
    uintptr_t end;                     /* one past the last byte */
    unsigned flags;
    const struct mset_backend *backend;
    void *udata;                       /* the user pointer given to mset_map() */
};

/*
 * Where the set's own memory comes from.  Both callbacks must be thread-safe:
 * alloc runs in writer threads, free in writer threads and in liburcu's
 * call_rcu thread.  `size` passed to free is the size passed to alloc.
 */
struct mset_allocator {
    void *(*alloc)(void *ctx, size_t size);        /* NULL on failure */
    void (*free)(void *ctx, void *p, size_t size);
    void *ctx;
};

/* ---------------------------------------------------------------- lifetime */

/*
 * mset_new() - create an empty set.
 * @pt: the "page table" handed to every backend call (may be NULL).
 * Return: the set, or NULL with errno = ENOMEM.
 * Contract: thread-safe; not async-signal-safe.
 */
MSET_API mset_t *mset_new(void *pt);

/*
 * mset_new_with_allocator() - like mset_new(), with the set's memory (the set
 * itself, its nodes, reclamation batches) taken from `a`.  `a` is copied.
 * A NULL `a` means malloc/free.
 */
MSET_API mset_t *mset_new_with_allocator(void *pt, const struct mset_allocator *a);

/*
 * mset_destroy() - free the set.  Does not call backends: mset_clear() first
 * to unmap.  Waits for every pending reclamation of this set's memory (an RCU
 * grace period, and the set's batches queued to call_rcu), so nothing leaks.
 * Contract: no other call on `s` may be running or start; must not be called
 * inside a read-side section (from an mset_foreach() callback) or from a
 * call_rcu callback.  Blocks.  NULL is accepted.
 */
MSET_API void mset_destroy(mset_t *s);

/*
 * mset_thread_init() - register the calling thread as an RCU reader now.
 * Optional: read-side calls register the thread on first use, which allocates
 * and takes a lock inside liburcu and is therefore not async-signal-safe.
 * Call this before a signal handler of this thread uses mset_find().
 * Return: 0.  Idempotent.
 */
MSET_API int mset_thread_init(void);

/*
 * mset_thread_fini() - unregister the calling thread.  Optional: threads are
 * unregistered when they exit.  The thread must not be inside a read-side
 * call.  Calling a reader afterwards registers the thread again.
 */
MSET_API void mset_thread_fini(void);

/* ----------------------------------------------------------------- writers */

/*
 * mset_map() - add the area [start, start + size) with `flags`, mapped by `be`.
 *
 * If the range overlaps areas: with !unmap_overlap, return -EEXIST and change
 * nothing; with unmap_overlap, first unmap the overlapped parts exactly as
 * mset_unmap(start, size) would (areas inside are removed, areas crossing an
 * edge are shrunk, an area containing the range is split), then map the new
 * area with be->map and insert it.
 *
 * Return: 0; -EINVAL if s or be (or one of its callbacks) is NULL, size is 0
 * or start + size wraps; -EEXIST on overlap without unmap_overlap; -ENOMEM if
 * memory for the nodes cannot be allocated; otherwise the backend's error.
 *
 * On failure: -EINVAL, -EEXIST, -ENOMEM: nothing changed and no backend was
 * called.  A backend error: if be->map failed, every overlapped part was
 * already unmapped and is gone from the set, and the new area is not in the
 * set.  If the unmap of an overlapped part failed, the parts unmapped before
 * it are gone from the set, that part and the following ones are intact, and
 * be->map was not called.  The set always describes what the backends have.
 *
 * Contract: writer; serializes with other writers of `s` on a mutex; may run
 * concurrently with any reader.  Concurrent readers observe R1-R3 (top of
 * file): during a replace, each address is found in its old or its new area.
 * Not async-signal-safe.  Allocates before calling any backend.
 */
MSET_API int mset_map(mset_t *s, uintptr_t start, size_t size, unsigned flags,
                      const struct mset_backend *be, void *udata, bool unmap_overlap);

/*
 * mset_map_anywhere() - find a free range and map it, as one writer
 * operation: two threads racing for space never receive the same range.
 * The range is the one mset_find_free_area(hint, size, limit_start,
 * limit_end, align) would return with no concurrent writer.
 * @out: receives the start of the mapped area (may be NULL).
 * Return: 0; -EINVAL as for mset_find_free_area() or mset_map(); -ENOMEM if
 * no range fits or memory runs out; otherwise be->map's error, in which case
 * nothing changed.
 * Contract: as mset_map().
 */
MSET_API int mset_map_anywhere(mset_t *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                               uintptr_t limit_end, size_t align, unsigned flags,
                               const struct mset_backend *be, void *udata, uintptr_t *out);

/*
 * mset_unmap() - remove [start, start + size) from the set.  Areas inside the
 * range are removed, an area crossing an edge is shrunk, an area containing
 * the whole range is split in two.  Each area's backend unmap is called for
 * exactly its removed sub-range, in address order.  A range with no area in
 * it succeeds and calls nothing.
 *
 * Return: 0; -EINVAL if s is NULL, size is 0 or start + size wraps; -ENOMEM
 * if a shrink or split needs a node and none can be allocated; otherwise the
 * first backend error.
 * On failure: -EINVAL, -ENOMEM: nothing changed, no backend called.  A backend
 * error: the sub-ranges unmapped before the failing one are gone from the
 * set; the failing area and those after it are intact.
 * Contract: as mset_map().
 */
MSET_API int mset_unmap(mset_t *s, uintptr_t start, size_t size);

/*
 * mset_protect() - change the flags of the areas in [start, start + size).
 *
 * For each area touching the range, in address order, update(old_flags,
 * &new_flags, arg) is called once (new_flags starts equal to old_flags).  If
 * it returns false, or sets new_flags equal to old_flags, the area is left
 * alone.  Otherwise the part of the area inside the range gets new_flags:
 * an area changed only partly is split (left | middle | right, or two parts),
 * its backend's protect is called for exactly the changed sub-range, and the
 * pieces keep the area's backend and udata.  Splits are not merged back.
 *
 * Return: 0; -EINVAL if s or update is NULL, size is 0 or start + size wraps;
 * -ENOMEM; otherwise the first backend error.
 * On failure: -EINVAL: nothing called.  -ENOMEM: update may have been called,
 * nothing else changed.  A backend error: the sub-ranges already protected are
 * protected back to their old flags (in reverse order) and the set is
 * unchanged; if one of those reverting calls fails too, the set records the
 * new flags for the sub-ranges that could not be reverted.
 * Contract: as mset_map(); `update` runs with the writer mutex held and must
 * not call writers of `s`.
 */
MSET_API int mset_protect(mset_t *s, uintptr_t start, size_t size,
                          bool (*update)(unsigned old_flags, unsigned *new_flags, void *arg),
                          void *arg);

/*
 * mset_clear() - unmap every area through its backend, in address order, and
 * empty the set.
 * Return: 0; -EINVAL if s is NULL; otherwise the first backend error, in
 * which case the areas before the failing one are gone and the rest remain.
 * Contract: as mset_map().
 */
MSET_API int mset_clear(mset_t *s);

/* ----------------------------------------------------------------- readers */

/*
 * mset_find() - the area containing `addr`.
 * @out: receives a copy of the area (may be NULL).
 * Return: true if an area contains addr.
 * Contract: lock-free, wait-free with respect to writers; O(log n) expected.
 * May run concurrently with anything except mset_destroy().  Observes R1 and
 * R2.  Async-signal-safe once the thread called mset_thread_init() (or any
 * reader outside a handler).
 */
MSET_API bool mset_find(mset_t *s, uintptr_t addr, struct mset_area *out);

/*
 * A reader's memo of the last area it found, for mset_find_cached().
 * Zero-initialize it; one cursor per thread (or per signal handler).
 */
struct mset_cursor {
    const mset_t *set;    /* the set the memo belongs to */
    uint64_t version;     /* the set's version when the memo was taken */
    struct mset_area area;
};

/*
 * mset_find_cached() - mset_find() that first tries the area remembered in
 * the cursor: if no writer has published anything in the set since the
 * cursor was filled and addr is inside the remembered area, it answers from
 * the cursor after reading one word of the set.  Otherwise it does a full
 * lookup and refills the cursor.  For lookups with locality (a profiler's
 * samples, a JIT's return addresses), not for random addresses.
 * Return: as mset_find(); `out` may be NULL.
 * Contract: as mset_find() (lock-free, async-signal-safe after
 * mset_thread_init()); the cursor must not be shared between threads that
 * call this concurrently.  A hit is linearized at its read of the version.
 */
MSET_API bool mset_find_cached(mset_t *s, uintptr_t addr, struct mset_cursor *c,
                               struct mset_area *out);

/*
 * mset_find_next() - the lowest area that ends after `addr`: the area
 * containing addr if there is one, else the first area above it.  Iterating
 * with addr = previous end walks the set in order without a callback.
 * Return: true if there is such an area.
 * Contract: as mset_find().
 */
MSET_API bool mset_find_next(mset_t *s, uintptr_t addr, struct mset_area *out);

/*
 * mset_overlaps() - whether any area intersects [start, start + size).
 * Return: false if s is NULL or size is 0; false with errno = EINVAL if
 * start + size wraps.
 * Contract: as mset_find().  With concurrent writers, the answer is the one
 * of a state the set had during the call.
 */
MSET_API bool mset_overlaps(mset_t *s, uintptr_t start, size_t size);

/*
 * mset_find_free_area() - the lowest start >= max(hint, limit_start), a
 * multiple of `align`, such that [start, start + size) lies inside
 * [limit_start, limit_end) and touches no area.
 * @out: receives the start (must not be NULL).
 * Return: 0; -EINVAL if s or out is NULL, size is 0, align is 0 or not a
 * power of two, size is not a multiple of align, limit_start > limit_end, or
 * hint > limit_end; -ENOMEM if nothing fits.  A hint below limit_start is
 * raised to limit_start.
 * Contract: lock-free; O(log n) expected when few gaps are large enough
 * (the skip list keeps the largest gap of every span and skips spans with no
 * gap of `size` bytes).  Without concurrent writers the answer is exact.
 * With concurrent writers the returned range was free at an instant during
 * the call; a range that stays free throughout the call is never skipped
 * in favour of a higher one, but one that becomes free during the call may
 * be.  The range can be taken by a writer right after the call returns: use
 * mset_map_anywhere() to find and map atomically.  Not async-signal-safe
 * only because of first-use registration (see mset_thread_init()).
 */
MSET_API int mset_find_free_area(mset_t *s, uintptr_t hint, size_t size, uintptr_t limit_start,
                                 uintptr_t limit_end, size_t align, uintptr_t *out);

/*
 * mset_len() - the number of areas.
 * Contract: lock-free, O(1), async-signal-safe; a concurrent writer's
 * operation is counted before or after, never half.
 */
MSET_API size_t mset_len(mset_t *s);

/*
 * mset_foreach() - call fn(area, arg) for each area in increasing address
 * order, stopping at the first non-zero return.
 * Return: 0 after visiting every area, fn's non-zero return if it stopped,
 * -EINVAL if s or fn is NULL.
 * Contract: lock-free; observes R3 under concurrent writers (areas changed
 * during the walk may be seen in their old or new state, or not at all).  fn
 * runs inside an RCU read-side section with a pointer to a private copy: it
 * may call readers and writers (writers then defer reclamation instead of
 * waiting), but not mset_destroy(), and it should not block for long, as
 * that delays reclamation process-wide.
 */
MSET_API int mset_foreach(mset_t *s, int (*fn)(const struct mset_area *a, void *arg), void *arg);

/*
 * mset_foreach_range() - like mset_foreach(), for the areas that intersect
 * [start, start + size) only, in O(log n + k).
 * Return: as mset_foreach(); -EINVAL also for an empty or wrapping range.
 * Contract: as mset_foreach().
 */
MSET_API int mset_foreach_range(mset_t *s, uintptr_t start, size_t size,
                                int (*fn)(const struct mset_area *a, void *arg), void *arg);

/*
 * mset_snapshot() - copy every area, as the set was at one instant, into
 * buf[0..cap), in address order.
 * @n: receives the number of areas (also when they do not fit).
 * Return: 0; -ENOSPC if more than cap areas (buf then holds the first cap of
 * them); -EINVAL if s or n is NULL, or buf is NULL with cap > 0.
 * Contract: not lock-free.  It walks the set like mset_foreach() and checks
 * with a sequence counter (ck_sequence) that no writer published during the
 * walk; it may spin while a writer publishes (microseconds: backends are
 * called before publication), and after 8 walks spoiled by writers it takes
 * the writer mutex for one last walk.  Not async-signal-safe.
 */
MSET_API int mset_snapshot(mset_t *s, struct mset_area *buf, size_t cap, size_t *n);

/*
 * mset_check() - verify the set's internal invariants (order, no overlap,
 * skip-list links, gap summaries, count).  For tests and debugging: O(n).
 * Return: 0 if consistent, -EUCLEAN otherwise (with a message on stderr).
 * Contract: writer (takes the mutex).
 */
MSET_API int mset_check(mset_t *s);

#ifdef __cplusplus
}
#endif

#endif /* MSET_H */
