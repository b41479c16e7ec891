/* SPDX-License-Identifier: MIT */
/*
 * mset_find() from a signal handler, as a JIT's profiler or fault handler
 * does: the handler interrupts its thread anywhere, including in the middle
 * of that thread's own mset_find(), while another thread keeps splitting and
 * re-merging areas.  The handler must always find the stable areas, and
 * nothing may deadlock.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "testutil.h"

#define SLOT 0x1000u
#define AREA 0x800u
#define SLOTS 32u


static mset_t *set;
static atomic_bool stop;
static atomic_long handled, misses;
static pthread_t victim;

/* Even slots are stable; the handler looks one of them up. */
static void on_signal(int sig)
{
    static _Thread_local unsigned k;
    struct mset_area a;

    (void)sig;
    k = (k + 2) % SLOTS;
    if (!mset_find(set, k * SLOT + AREA / 2, &a) || a.start != k * SLOT || a.end != k * SLOT + AREA)
        atomic_fetch_add(&misses, 1);
    atomic_fetch_add(&handled, 1);
}

static void *writer(void *arg)
{
    uint64_t x = 7;

    (void)arg;
    while (!atomic_load(&stop)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uintptr_t base = ((x % (SLOTS / 2)) * 2 + 1) * SLOT;
        mset_unmap(set, base + 0x100, 0x100);
        mset_map(set, base, AREA, 1, &nop_backend, NULL, true);
    }
    return NULL;
}

static void *signaller(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_kill(victim, SIGUSR1);
        usleep(20);
    }
    return NULL;
}

static void find_is_async_signal_safe_after_thread_init(void **state)
{
    pthread_t w, g;
    struct sigaction sa = { .sa_handler = on_signal };

    (void)state;
    set = mset_new(NULL);
    for (unsigned k = 0; k < SLOTS; k++)
        assert_int_equal(mset_map(set, k * SLOT, AREA, 1, &nop_backend, NULL, false), 0);
    assert_int_equal(mset_thread_init(), 0); /* before the handler can run */
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    victim = pthread_self();
    assert_int_equal(pthread_create(&w, NULL, writer, NULL), 0);
    assert_int_equal(pthread_create(&g, NULL, signaller, NULL), 0);

    /* The victim reads too, so handlers nest inside its read sections.
     * Valgrind delivers signals slowly; it checks memory, not the race. */
    long found = 0, want = getenv("MSET_UNDER_VALGRIND") ? 400 : 4000;
    while (atomic_load(&handled) < want) {
        for (unsigned k = 0; k < SLOTS; k += 2)
            found += mset_find(set, k * SLOT, NULL);
    }
    atomic_store(&stop, true);
    pthread_join(g, NULL);
    pthread_join(w, NULL);
    signal(SIGUSR1, SIG_IGN);
    assert_true(found > 0);
    assert_int_equal(atomic_load(&misses), 0);
    assert_int_equal(mset_check(set), 0);
    mset_destroy(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_is_async_signal_safe_after_thread_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
