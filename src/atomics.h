/* SPDX-License-Identifier: MIT */
/*
 * Named memory-order helpers and ThreadSanitizer annotations.
 *
 * Every shared mutable field in mset is read and written through these
 * helpers, never with plain accesses, so that ThreadSanitizer sees every
 * synchronization the code relies on.  The order is in the name (as in
 * mimalloc's atomic.h) so that each call site states what it pairs with.
 */
#ifndef MSET_ATOMICS_H
#define MSET_ATOMICS_H

#define atomic_load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/*
 * liburcu 0.13 is built without ThreadSanitizer and synchronizes with
 * membarrier() and inline asm, so TSan cannot see that a grace period orders
 * a reader's accesses before the reclaimer's free().  These annotations state
 * it: tsan_release() at the end of every read-side section, tsan_acquire()
 * before freeing memory whose grace period has elapsed.  They compile to
 * nothing outside TSan builds.
 */
#if defined(__SANITIZE_THREAD__)
#define MSET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MSET_TSAN 1
#endif
#endif

#ifdef MSET_TSAN
#include <sanitizer/tsan_interface.h>
#define tsan_release(addr) __tsan_release((void *)(addr))
#define tsan_acquire(addr) __tsan_acquire((void *)(addr))
#else
#define tsan_release(addr) ((void)(addr))
#define tsan_acquire(addr) ((void)(addr))
#endif

#endif /* MSET_ATOMICS_H */
