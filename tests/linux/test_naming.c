/* SPDX-License-Identifier: MIT */
/*
 * Names given to areas show in /proc/self/maps as [anon:name].  Kernels
 * without anonymous VMA names (before 5.17, or CONFIG_ANON_VMA_NAME off)
 * skip this whole program (exit 77): there is nothing to observe.
 */
#include <sys/prctl.h>

#include "linuxutil.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static bool kernel_names_vmas(void)
{
    void *p = mmap(NULL, ps(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool ok = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, ps(), "probe") == 0;

    munmap(p, ps());
    return ok;
}

static void name_at(uintptr_t addr, char *out, size_t n)
{
    struct maps m;

    maps_read(&m, addr, addr + 1);
    const struct vma *v = maps_at(&m, addr);
    assert_non_null(v);
    snprintf(out, n, "%s", v->name);
    maps_free(&m);
}

static void a_named_range_shows_its_name(void **state)
{
    struct lfx *f = *state;
    char name[96];

    assert_int_equal(mset_map(f->s, PG(f, 0), 2 * ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(mset_name_range(PG(f, 0), ps(), "jit-code"), 0);
    name_at(PG(f, 0), name, sizeof name);
    assert_string_equal(name, "[anon:jit-code]");
    name_at(PG(f, 1), name, sizeof name);
    assert_string_equal(name, "");
}

static void a_name_survives_protect(void **state)
{
    struct lfx *f = *state;
    char name[96];

    assert_int_equal(mset_map(f->s, PG(f, 0), 2 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(mset_name_range(PG(f, 0), 2 * ps(), "heap"), 0);
    assert_int_equal(f->be->protect(f->be, NULL, PG(f, 1), ps(), MSET_READ), 0);
    name_at(PG(f, 1), name, sizeof name);
    assert_string_equal(name, "[anon:heap]");
}

static void an_arena_names_its_reservation_and_areas(void **state)
{
    (void)state;
    char name[96];
    mset_t *s = mset_new(NULL);
    mset_arena_t *a = mset_arena_new(0, 8 * ps(), "jit");
    const struct mset_backend *be = mset_arena_backend(a);
    uintptr_t b = mset_arena_start(a);

    name_at(b, name, sizeof name);
    assert_string_equal(name, "[anon:jit]");
    assert_int_equal(mset_map(s, b + ps(), ps(), MSET_READ, be, NULL, false), 0);
    name_at(b + ps(), name, sizeof name);
    assert_string_equal(name, "[anon:jit]");
    assert_int_equal(mset_name_range(b + ps(), ps(), "stub"), 0);
    /* Unmapped, the page is the reservation's again, name included. */
    assert_int_equal(mset_unmap(s, b + ps(), ps()), 0);
    name_at(b + ps(), name, sizeof name);
    assert_string_equal(name, "[anon:jit]");
    assert_int_equal(mset_clear(s), 0);
    assert_int_equal(mset_arena_destroy(a), 0);
    mset_destroy(s);
}

static void uffd_areas_carry_the_configured_name(void **state)
{
    (void)state;
    char name[96];
    mset_t *s = mset_new(NULL);
    struct mset_uffd_config cfg = {.name = "lazy-heap"};
    mset_uffd_t *u = mset_uffd_new(s, &cfg);

    if (!u) {
        mset_destroy(s);
        skip();
    }
    uintptr_t at = map_fresh(s, 2 * ps(), MSET_READ, mset_uffd_backend(u));
    name_at(at, name, sizeof name);
    assert_string_equal(name, "[anon:lazy-heap]");
    assert_int_equal(mset_clear(s), 0);
    assert_int_equal(mset_uffd_destroy(u), 0);
    mset_destroy(s);
}

int main(void)
{
    if (!kernel_names_vmas()) {
        printf("SKIP: this kernel cannot name anonymous mappings (PR_SET_VMA_ANON_NAME)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        LTEST(a_named_range_shows_its_name),
        LTEST(a_name_survives_protect),
        LTEST(an_arena_names_its_reservation_and_areas),
        LTEST(uffd_areas_carry_the_configured_name),
    };
    return run_group(tests);
}
