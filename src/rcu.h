/* SPDX-License-Identifier: MIT */
/*
 * The read side of RCU, inlined into every reader.
 *
 * With MSET_URCU_INLINE (meson option urcu_inline, on by default) the read
 * lock and unlock are liburcu-bp's own inline fast paths (_LGPL_SOURCE; each
 * is a small inline function of a few lines, which the LGPL 2.1 section 5
 * leaves unrestricted), and the library reads liburcu-bp's thread-local
 * reader pointer with the initial-exec TLS model: a find costs no call and
 * no __tls_get_addr.  Without it, they are calls into liburcu-bp.so.
 */
#ifndef MSET_RCU_H
#define MSET_RCU_H

#ifdef MSET_URCU_INLINE
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-bp.h>

#include "atomics.h"

#ifndef MSET_HIDDEN
#define MSET_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The happens-before token of grace periods, for TSan only (see rcu.c). */
extern MSET_HIDDEN char mset_gp_token;

static inline void mset_rcu_read_lock(void)
{
    urcu_bp_read_lock();
}

static inline void mset_rcu_read_unlock(void)
{
    /* Everything this section read happens before any free that follows a
     * grace period: pairs with tsan_acquire(&mset_gp_token) in rcu.c. */
    tsan_release(&mset_gp_token);
    urcu_bp_read_unlock();
}

#endif /* MSET_RCU_H */
