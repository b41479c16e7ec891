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
 *
 * Failures (docs/reliability.md has the table and the tests that show it)
 *   Every writer validates its arguments and allocates every node it can need
 *   before its first backend call, and publishes its result at the end.
 *   So a writer either succeeds, or
 *   - fails with -EINVAL, -EEXIST or -ENOMEM having changed nothing and
 *     called no backend, or
 *   - fails with the first backend error, having recorded exactly what the
 *     backends did: map, unmap and clear keep the unmaps that succeeded
 *     before the failing call (an unmap cannot be undone); protect protects
 *     back what it had changed.
 *   The set never claims a range its backend did not map and never forgets
 *   one its backend still has.  A backend's own -ENOMEM (mmap returns it) is
 *   passed through like any backend error: the library's -ENOMEM always
 *   comes before the first backend call.  A failed operation publishes what
 *   it did like a successful one, after its backend calls, so concurrent
 *   readers keep R1-R3 above.
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
 * When alloc returns NULL, the operation that asked fails with -ENOMEM and
 * changes nothing, except for the small header that hands retired nodes to
 * call_rcu(): without it the writer waits for a grace period and frees the
 * nodes itself (inside an mset_foreach() callback it keeps them for the next
 * writer or mset_destroy()), and the operation succeeds.
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
 * Return: the set; NULL with errno = ENOMEM if `a` refused memory (what it
 * gave is given back), or errno = EINVAL if a->alloc or a->free is NULL.
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
 * already unmapped and is gone from the set (an area that contained the range
 * is left as its two remainders), and the new area is not in the set.  If
 * the unmap of an overlapped part failed, the parts unmapped before it are
 * gone from the set, that part and the following ones are intact, and
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
 * @out: receives the start of the mapped area (may be NULL); written only on
 * success.
 * Return: 0; -EINVAL as for mset_find_free_area() (bad geometry, hint >
 * limit_end) or mset_map() (s or be NULL); -ENOMEM if no range fits or memory
 * runs out; otherwise be->map's error.
 * On failure: nothing changed.  -EINVAL, -ENOMEM: no backend was called.
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
 * if a shrink or split needs a node (one per area cut by an edge of the
 * range) and none can be allocated; otherwise the first backend error.
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
 * On failure: -EINVAL: nothing called.  -ENOMEM: update may have been called
 * for the first areas of the range, in order; nothing else changed and no
 * backend was called.  A backend error: the failing sub-range is protected
 * back to its old flags (a backend that failed part-way, like mprotect() at
 * vm.max_map_count, may have changed some of its pages; the result of this
 * call is ignored), then the sub-ranges already protected are protected back
 * to their old flags, last first, and the set is unchanged; if one of those
 * reverting calls fails too, the set records the new flags for the
 * sub-ranges that could not be reverted.
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
 * Never -ENOMEM: clearing needs no new node.
 * Contract: as mset_map().
 */
MSET_API int mset_clear(mset_t *s);

/* ----------------------------------------------------------------- readers */

/*
 * mset_find() - the area containing `addr`.
 * @out: receives a copy of the area (may be NULL); not written on a miss.
 * Return: true if an area contains addr; false if none does or s is NULL.
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
 * Return: true if there is such an area (then *out is written, if out is
 * not NULL); false if there is none or s is NULL.
 * Contract: as mset_find().  Each call observes R1 and R2, but a walk made of
 * several calls is not a snapshot: while a writer removes several areas it
 * may return an old area above ones already gone.  Use mset_snapshot() for
 * one consistent picture, or mset_foreach() for R3.
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
 * @out: receives the start (must not be NULL); written only on success.
 * Return: 0; -EINVAL if s or out is NULL, size is 0, align is 0 or not a
 * power of two, size is not a multiple of align, limit_start > limit_end, or
 * hint > limit_end; -ENOMEM if nothing fits.
 * The hint: below limit_start it is raised to limit_start (the search starts
 * at max(hint, limit_start)); equal to limit_end it leaves nothing to search
 * (-ENOMEM, like an empty limit); above limit_end it is -EINVAL.
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

/* ====================================================================== */
/* Linux backends                                                          */
/* ====================================================================== */
/*
 * Backends that really map memory in the calling process
 * (src/backend_mmap.c, src/backend_uffd.c; docs/backends.md has the details
 * and a diagram of the fault path).  Linux only.
 *
 * Common to every Linux backend:
 *   - Memory is anonymous and private.  MSET_READ, MSET_WRITE and MSET_EXEC
 *     become PROT_READ, PROT_WRITE and PROT_EXEC; other flag bits are ignored
 *     by the backend (the set stores them untouched).
 *   - A range must be page-aligned: start and size multiples of
 *     sysconf(_SC_PAGESIZE), size > 0.  Otherwise the callback returns
 *     -EINVAL and does nothing.
 *   - Kernel errors come back as their negative errno.
 *   - The `pt` given to mset_new() is not used.
 *   - A failed callback leaves its range as it was, except in the cases
 *     listed under "Limits" below, where the kernel gives no way to undo.
 *   - Callbacks are thread-safe: several sets may use one backend.
 */

/*
 * mset_mmap_backend() - the plain mmap backend.
 *   map:     mmap(start, size, prot, MAP_PRIVATE | MAP_ANONYMOUS |
 *            MAP_FIXED_NOREPLACE): exactly at start, never over a mapping it
 *            does not own.  -EEXIST if any page of the range is mapped, by
 *            anyone (another set, malloc, a library), and nothing changes.
 *   unmap:   munmap(start, size).  The range becomes free address space that
 *            any mmap() in the process may take.
 *   protect: mprotect(start, size, prot).  -ENOMEM if a page is not mapped.
 * Return: a static backend, valid for the life of the process.
 * Contract: thread-safe, async-signal-safe (returns a constant).
 * Limits: mprotect() can fail part-way through a range that spans several
 * kernel mappings (-ENOMEM when vm.max_map_count is reached while splitting);
 * the pages before the failure point then keep their new protection, and the
 * plain backend, which keeps no record of old protections, cannot undo that.
 * Use an arena (below) where this matters.
 */
MSET_API const struct mset_backend *mset_mmap_backend(void);

/*
 * An arena: one contiguous reservation of address space that areas are
 * mapped into, as JIT runtimes and garbage collectors do it.  Unmapping an
 * area returns its pages to the reservation instead of punching a hole that
 * another allocator of the process could take.
 */
typedef struct mset_arena mset_arena_t;

/*
 * mset_arena_new() - reserve `size` bytes of address space: no access
 * (PROT_NONE) and no memory committed (MAP_NORESERVE).
 * @hint: 0, or the address wanted; passed to mmap() as a hint only, so the
 *        arena may start elsewhere: read mset_arena_start().
 * @size: a non-zero multiple of the page size.
 * @name: NULL, or a name shown as [anon:name] in /proc/self/maps for the
 *        reservation and the areas mapped in it (see mset_name_range()).
 *        Copied.
 * Return: the arena, or NULL with errno EINVAL (size 0 or not page-aligned,
 * hint not page-aligned, invalid name) or ENOMEM (no address space or memory
 * for the reservation and its bookkeeping).
 * Contract: thread-safe; not async-signal-safe.
 */
MSET_API mset_arena_t *mset_arena_new(uintptr_t hint, size_t size, const char *name);

/*
 * mset_arena_backend() - the backend that maps areas inside arena `a`.
 *   map:     -ERANGE if the range is not inside the arena; -EEXIST if a page
 *            of it is already mapped in the arena (by this backend, a uffd
 *            backend on the same arena, or another set sharing the arena);
 *            else mmap(MAP_FIXED) over the reservation.
 *   unmap:   -ERANGE if not inside the arena; else the pages go back to the
 *            reservation (mmap(PROT_NONE, MAP_FIXED | MAP_NORESERVE) over
 *            them): their memory is released, an access raises SIGSEGV, and
 *            no other mmap() can take them.  Pages already in the
 *            reservation stay there.
 *   protect: -ERANGE if not inside the arena; -ENOMEM if a page of the range
 *            is not mapped (the reservation is never made accessible); else
 *            mprotect().  If mprotect() fails part-way, the pages it already
 *            changed are changed back (the arena records each page's
 *            protection).
 * Every call holds the arena's own mutex, so sets may share an arena.
 * Return: the backend, valid until mset_arena_destroy(); NULL if a is NULL.
 * Contract: thread-safe; async-signal-safe.
 * Limits: mmap(MAP_FIXED) replaces the old mapping in one step in current
 * kernels; should one fail after the kernel removed the old pages (seen on
 * old kernels under memory pressure), the range is left as a hole in the
 * reservation, which the backend tries to reserve again before returning the
 * error.  The set is right either way: the range is not in it.
 */
MSET_API const struct mset_backend *mset_arena_backend(mset_arena_t *a);

/*
 * mset_arena_start(), mset_arena_end() - the arena's range [start, end).
 * Pass them as limit_start and limit_end to mset_find_free_area() or
 * mset_map_anywhere() to allocate inside the arena.
 * Contract: thread-safe, async-signal-safe; constant for the arena's life.
 */
MSET_API uintptr_t mset_arena_start(const mset_arena_t *a);
MSET_API uintptr_t mset_arena_end(const mset_arena_t *a);

/*
 * mset_arena_destroy() - release the reservation and free the arena.
 * Return: 0 (also for NULL); -EBUSY if pages are still mapped in the arena
 * (unmap its areas first, e.g. with mset_clear()), and nothing changes.
 * Contract: no other call on `a`, on its backend or on a uffd backend using
 * it may run or start.  Not async-signal-safe.
 */
MSET_API int mset_arena_destroy(mset_arena_t *a);

/*
 * mset_name_range() - name the anonymous pages [start, start + size) in
 * /proc/self/maps (shown as [anon:name]), with PR_SET_VMA_ANON_NAME.
 * @name: at most 79 bytes of printable ASCII other than [ ] \ $ and `;
 *        NULL removes the name.  The kernel copies it.
 * Names stay with the pages through mprotect() and are dropped when the
 * pages are unmapped (an arena puts its own name back).
 * Return: 0, also when the kernel cannot name mappings (before Linux 5.17
 * or without CONFIG_ANON_VMA_NAME): naming is best effort; -EINVAL if the
 * range is empty or not page-aligned or the name is invalid; -ENOMEM if a
 * page of the range is not mapped; -EBADF if a page is not anonymous.
 * Contract: thread-safe; not async-signal-safe.  Does not touch any set.
 */
MSET_API int mset_name_range(uintptr_t start, size_t size, const char *name);

/*
 * The userfaultfd backend: areas are mapped like the mmap backend (or inside
 * an arena) and registered with a userfaultfd.  A handler thread owned by the
 * backend resolves each first touch of a page: it looks the address up with
 * mset_find() and installs the page's contents atomically (UFFDIO_COPY, or
 * UFFDIO_ZEROPAGE for zero-fill), so no thread ever sees a half-filled page.
 * Pages can also be write-protected to learn about the first write to each
 * one (UFFDIO_WRITEPROTECT), as garbage collectors and snapshotters do.
 *
 * Faults racing with unmap: the handler never installs a page outside a live
 * area of this backend.  A thread that touches a page while that page is
 * being unmapped is woken once the unmap is done and then sees what an
 * access to unmapped memory sees (SIGSEGV; in an arena, the reservation's
 * SIGSEGV).  A fault on a range whose mset_map(), mset_unmap() or
 * mset_protect() has called the backend but not returned yet waits until the
 * set shows the change, so a page is always filled for the area the set
 * shows (never for the area a replace removed); a touch that races with the
 * map itself may also get SIGSEGV, since new areas are mapped without access
 * until they are registered.  Nothing is left waiting: see
 * mset_uffd_destroy().
 *
 * Privileges: the backend opens its userfaultfd with UFFD_USER_MODE_ONLY,
 * which needs no privilege when vm.unprivileged_userfaultfd is 0 (Linux
 * 5.11): it then handles faults from user code only, and a system call that
 * touches a page not yet filled (read(fd, page, n) for example) fails with
 * EFAULT instead of waiting.  MSET_UFFD_KERNEL_FAULTS asks for kernel faults
 * too, which needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd = 1, or
 * access to /dev/userfaultfd (Linux 6.1).
 */
typedef struct mset_uffd mset_uffd_t;

/* Handle faults raised inside system calls too (see above). */
#define MSET_UFFD_KERNEL_FAULTS 0x1u

struct mset_uffd_config {
    /* Map areas inside this arena (checked and released as by
     * mset_arena_backend()), or NULL: map them as mset_mmap_backend() does. */
    mset_arena_t *arena;
    /* NULL, or the name of every area mapped, as mset_name_range(). */
    const char *name;
    /*
     * Fill a missing page, or NULL to zero-fill.  `page` is a zeroed,
     * page-aligned buffer of page_size bytes to write the contents to; addr
     * is the page's address; area is a copy of the live area containing it.
     * Return 0 to install the contents.  A negative errno makes the access
     * fail: the page is poisoned (an access raises SIGBUS until the area is
     * unmapped) where the kernel has UFFDIO_POISON (Linux 6.6), else it is
     * zero-filled; either way stats.fill_errors counts it.
     */
    int (*fill)(void *page, uintptr_t addr, size_t page_size, const struct mset_area *area,
                void *arg);
    /*
     * The first write to a page armed with mset_uffd_track_writes(), or NULL
     * to record the page in the dirty set (mset_uffd_collect_dirty()).
     * Called before the write happens: the page still holds its old contents
     * (a snapshotter may copy them).
     */
    void (*on_write)(uintptr_t addr, const struct mset_area *area, void *arg);
    void *arg;      /* passed to fill and on_write */
    unsigned flags; /* 0 or MSET_UFFD_KERNEL_FAULTS */
};
/*
 * Callback contract (fill, on_write): they run in the handler thread, one at
 * a time, with the backend's lock held, so that no area of this backend is
 * mapped or unmapped while they run; keep them short, since such writers
 * wait.  They may call mset readers.  They must not call mset writers on the
 * set, nor mset_uffd_* functions on this backend, nor touch pages of this
 * backend that may be missing or write-protected: each would wait for the
 * handler thread, which is the caller.
 */

/* Counters since mset_uffd_new(), for tests and monitoring. */
struct mset_uffd_stats {
    uint64_t faults;      /* fault messages handled */
    uint64_t filled;      /* pages installed (filled, zero-filled or poisoned) */
    uint64_t writes;      /* first writes to armed pages reported */
    uint64_t woken;       /* faults answered by a wake alone: the page was
                             already resolved, or not in a live area of this
                             backend (racing with map or unmap) */
    uint64_t fill_errors; /* fill callbacks that returned an error */
};

/*
 * mset_uffd_new() - create a userfaultfd backend for the set `s` and start
 * its handler thread (named "mset-uffd").  `cfg` is copied (and the name in
 * it); NULL means all defaults (zero-fill, dirty set, no arena).  Areas of
 * this backend must be mapped in `s` only: the handler looks faults up there.
 * Return: the backend, or NULL with errno:
 *   EINVAL  s is NULL, cfg->flags has unknown bits, or the name is invalid;
 *   ENOSYS  the kernel has no userfaultfd (CONFIG_USERFAULTFD off, or blocked
 *           by seccomp);
 *   EPERM   userfaultfd is not allowed for this process (for example
 *           MSET_UFFD_KERNEL_FAULTS without the privileges listed above);
 *   EOPNOTSUPP the kernel's userfaultfd does not speak the API this backend
 *           knows (UFFD_API);
 *   ENOMEM, EMFILE, ENFILE, EAGAIN  out of memory, descriptors or threads.
 * Contract: thread-safe; not async-signal-safe.
 */
MSET_API mset_uffd_t *mset_uffd_new(mset_t *s, const struct mset_uffd_config *cfg);

/*
 * mset_uffd_backend() - the backend to pass to mset_map().  Its callbacks
 * map and unmap as the mmap or arena backend does (same errors), and in
 * addition:
 *   map:     registers the range with the userfaultfd (missing-page faults,
 *            and write protection where the kernel has it); if registration
 *            fails, the range is unmapped again and the error returned.
 *   unmap:   waits for the fault being handled, if any, then unmaps; pending
 *            faults on the range are woken (see above) and the range's pages
 *            leave the dirty set.  A thread woken by the fill that ran just
 *            before the unmap completes its access if it runs before the
 *            unmap, else it faults like any access to unmapped memory.
 *   protect: mprotect(); write protection for tracking is kept.
 * Return: the backend, valid until mset_uffd_destroy(); NULL if u is NULL.
 * Contract: thread-safe, async-signal-safe.
 */
MSET_API const struct mset_backend *mset_uffd_backend(mset_uffd_t *u);

/*
 * mset_uffd_destroy() - stop the handler thread, close the userfaultfd and
 * free the backend.  Faults still queued are answered with a wake first, and
 * closing the descriptor releases any thread the kernel still holds, so no
 * thread is left waiting and the handler thread has ended on return.
 * Return: 0 (also for NULL); -EBUSY if areas of this backend are still mapped
 * (unmap them first, e.g. with mset_clear()), and nothing changes.
 * Contract: no other mset_uffd_* call on `u` may run or start, and no
 * backend callback of `u` either.  Blocks until the thread has ended.  Not
 * async-signal-safe; must not be called from fill or on_write.
 */
MSET_API int mset_uffd_destroy(mset_uffd_t *u);

/*
 * mset_uffd_track_writes() - arm [start, start + size): the first write to
 * each page afterwards is reported once (on_write, or the dirty set), then
 * proceeds.  Pages not yet filled are armed too: their first write is
 * reported when it fills them.  Arming an armed page does nothing.
 * Return: 0; -EINVAL if the range is empty or not page-aligned; -ENOENT if a
 * page of it is not in a live area of this backend in its set (then nothing
 * is armed); -EOPNOTSUPP if the kernel cannot write-protect anonymous memory
 * that is not populated yet (needs Linux 6.4 and an architecture with
 * userfaultfd write protection, such as x86-64 or arm64); otherwise the
 * kernel's error.
 * Contract: thread-safe: serializes with the handler thread and with this
 * backend's callbacks.  Not async-signal-safe; blocks while a fill or
 * on_write callback runs.
 */
MSET_API int mset_uffd_track_writes(mset_uffd_t *u, uintptr_t start, size_t size);

/*
 * mset_uffd_untrack_writes() - disarm [start, start + size): writes are no
 * longer reported and proceed without a fault.  Pages already reported stay
 * in the dirty set.
 * Return and contract: as mset_uffd_track_writes().
 */
MSET_API int mset_uffd_untrack_writes(mset_uffd_t *u, uintptr_t start, size_t size);

/*
 * mset_uffd_collect_dirty() - report and empty the dirty set: the pages
 * whose first write was recorded since they were armed (on_write NULL).
 * fn(start, size, arg) is called once per maximal run of consecutive dirty
 * pages, in increasing address order, after the set was emptied.  With
 * rearm, those pages are armed again before fn is called, so their next
 * write is recorded again; a write that races with the collection is
 * reported by this collection or by the next one, never lost.  Pages of
 * areas unmapped since their write are not reported.
 * Return: 0; -EINVAL if u or fn is NULL; -ENOBUFS if memory ran out while
 * recording (the pages reported are right but some writes were not recorded:
 * treat every armed page as written); otherwise the first error from
 * re-arming (fn is still called for every page).
 * Contract: as mset_uffd_track_writes(); fn runs with the backend's lock held
 * and has the restrictions of the callback contract above.
 */
MSET_API int mset_uffd_collect_dirty(mset_uffd_t *u, bool rearm,
                                     void (*fn)(uintptr_t start, size_t size, void *arg),
                                     void *arg);

/*
 * mset_uffd_stats() - a snapshot of the counters (each read atomically; the
 * set of them is not one instant).
 * Contract: thread-safe, lock-free, async-signal-safe.
 */
MSET_API void mset_uffd_stats(const mset_uffd_t *u, struct mset_uffd_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* MSET_H */
