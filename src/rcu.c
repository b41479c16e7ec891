/* SPDX-License-Identifier: MIT */
/*
 * The one place that talks to liburcu, and the one place that frees nodes.
 *
 * Flavour: urcu-bp ("bulletproof").  It registers reader threads on their
 * first read-side section and unregisters them when they exit, which is what
 * a library needs: callers never have to register threads.  With
 * sys_membarrier (Linux >= 4.14) its read side is a TLS counter update and a
 * compiler barrier, so a registered thread may nest read-side sections from
 * a signal handler (the handler's lock/unlock pair restores the counter).
 *
 * Reclamation: writers chain unlinked nodes into the set's limbo list under
 * the writer mutex; every RETIRE_BATCH nodes the limbo becomes one call_rcu()
 * batch, freed by liburcu's call_rcu thread after a grace period.  The set
 * counts its batches in flight, and mset_destroy() waits for that count to
 * reach zero under drain_lock, which also tells TSan that the callback's
 * last access to the set happens before the set is freed.  If the
 * batch header cannot be allocated, the writer waits for a grace period
 * itself (unless it runs inside a read-side section, from an mset_foreach()
 * callback, where waiting would deadlock: then the nodes stay in limbo).
 *
 * ThreadSanitizer cannot see liburcu's synchronization (see atomics.h).
 * Every read-side section ends with tsan_release(&mset_gp_token), and every free
 * after a grace period starts with tsan_acquire(&mset_gp_token): TSan then knows
 * that readers' accesses happen before the free, and still reports a free
 * that races with a reader still inside its section (debug_bug=no_grace).
 */
#include "internal.h"
#include "rcu.h"

#define RETIRE_BATCH 64

char mset_gp_token;

struct retire_batch {
    struct rcu_head rcu;
    mset_t *s;
    struct sl_node *chain;
};

int mset_thread_init(void)
{
    urcu_bp_register_thread();
    return 0;
}

void mset_thread_fini(void)
{
    /* urcu-bp unregisters threads when they exit; nothing to do early. */
}

static void reclaim_batch(struct rcu_head *head)
{
    struct retire_batch *b = caa_container_of(head, struct retire_batch, rcu);

    tsan_acquire(b);         /* pairs with tsan_release(b) in flush_limbo() */
    tsan_acquire(&mset_gp_token); /* pairs with every mset_rcu_read_unlock() */
    mset_t *s = b->s;
    mset_node_free_chain(s, b->chain);
    mset_mem_free(s, b, sizeof *b);
    /* Last touch of s: mset_rcu_drain() may free it once this unlocks. */
    pthread_mutex_lock(&s->drain_lock);
    if (--s->batches == 0)
        pthread_cond_broadcast(&s->drain_cv);
    pthread_mutex_unlock(&s->drain_lock);
}

static void flush_limbo(mset_t *s)
{
    struct retire_batch *b = mset_mem_alloc(s, sizeof *b);

    if (b) {
        b->s = s;
        b->chain = s->limbo;
        pthread_mutex_lock(&s->drain_lock);
        s->batches++;
        pthread_mutex_unlock(&s->drain_lock);
        tsan_release(b); /* the writer's accesses happen before reclaim_batch() */
        urcu_bp_call_rcu(&b->rcu, reclaim_batch);
    } else if (!urcu_bp_read_ongoing()) {
        urcu_bp_synchronize_rcu();
        tsan_acquire(&mset_gp_token);
        mset_node_free_chain(s, s->limbo);
    } else {
        return; /* inside a read-side section: retry at the next retire */
    }
    s->limbo = NULL;
    s->nlimbo = 0;
}

void mset_rcu_retire(mset_t *s, struct sl_node *chain)
{
    if (!chain)
        return;
#ifdef MSET_DEBUG_BUG_NO_GRACE
    /* Injected bug: free at once, while readers may still hold the nodes. */
    mset_node_free_chain(s, chain);
    return;
#endif
    struct sl_node *tail = chain;
    size_t n = 1;

    while (tail->retire_next) {
        tail = tail->retire_next;
        n++;
    }
    tail->retire_next = s->limbo;
    s->limbo = chain;
    s->nlimbo += n;
    if (s->nlimbo >= RETIRE_BATCH)
        flush_limbo(s);
}

void mset_rcu_init(mset_t *s)
{
    pthread_mutex_init(&s->drain_lock, NULL);
    pthread_cond_init(&s->drain_cv, NULL);
    s->batches = 0;
}

void mset_rcu_drain(mset_t *s)
{
    if (s->limbo) {
        urcu_bp_synchronize_rcu();
        tsan_acquire(&mset_gp_token);
        mset_node_free_chain(s, s->limbo);
        s->limbo = NULL;
        s->nlimbo = 0;
    }
    /* Wait for this set's batches only (rcu_barrier() would also wait for
     * every other call_rcu user of the process). */
    pthread_mutex_lock(&s->drain_lock);
#ifndef MSET_DEBUG_BUG_NO_DRAIN /* injected bug: destroy with batches in flight */
    while (s->batches)
        pthread_cond_wait(&s->drain_cv, &s->drain_lock);
#endif
    pthread_mutex_unlock(&s->drain_lock);
    pthread_cond_destroy(&s->drain_cv);
    pthread_mutex_destroy(&s->drain_lock);
}
