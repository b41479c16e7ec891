/* SPDX-License-Identifier: MIT */
/*
 * An arena reserves address space with no access and no memory, maps areas
 * inside it, and takes pages back into the reservation when they are
 * unmapped, so nothing else in the process can take them.
 */
#include "linuxutil.h"

static void the_reservation_is_inaccessible_and_holds_no_memory(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_arena_end(f->a) - f->base, ARENA_PAGES * ps());
    assert_kernel_prot(f->base, ARENA_PAGES * ps(), 0);
    assert_int_equal(resident_pages(f->base, ARENA_PAGES * ps()), 0);
    assert_int_equal(touch_read(PG(f, 5), NULL), SIGSEGV);
}

static void areas_are_mapped_exactly_inside_with_their_protection(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 4), 2 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_kernel_prot(PG(f, 0), 4 * ps(), 0);
    assert_kernel_prot(PG(f, 4), 2 * ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(PG(f, 6), 4 * ps(), 0);
    assert_int_equal(touch_write(PG(f, 5) + 17, 3), 0);
}

static void a_range_outside_the_arena_is_erange(void **state)
{
    struct lfx *f = *state;
    int below = kernel_prot(f->base - ps());

    assert_int_equal(mset_map(f->s, f->base - ps(), 2 * ps(), MSET_READ, f->be, NULL, false),
                     -ERANGE);
    assert_int_equal(
        mset_map(f->s, PG(f, ARENA_PAGES - 1), 2 * ps(), MSET_READ, f->be, NULL, false), -ERANGE);
    assert_int_equal(mset_len(f->s), 0);
    assert_int_equal(kernel_prot(f->base - ps()), below); /* untouched */
    assert_kernel_prot(f->base, ps(), 0);
    assert_int_equal(f->be->unmap(f->be, NULL, mset_arena_end(f->a), ps()), -ERANGE);
    assert_int_equal(f->be->protect(f->be, NULL, mset_arena_end(f->a), ps(), MSET_READ), -ERANGE);
}

static void unmapped_pages_go_back_to_the_reservation(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 8), 4 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    for (int i = 8; i < 12; i++)
        assert_int_equal(touch_write(PG(f, i), 1), 0);
    assert_int_equal(resident_pages(PG(f, 8), 4 * ps()), 4);

    assert_int_equal(mset_unmap(f->s, PG(f, 9), 2 * ps()), 0);
    /* Still reserved (no hole), inaccessible, and the memory is released. */
    assert_kernel_prot(PG(f, 9), 2 * ps(), 0);
    assert_int_equal(resident_pages(PG(f, 9), 2 * ps()), 0);
    assert_int_equal(touch_read(PG(f, 9), NULL), SIGSEGV);
    /* Nobody else can take the pages. */
    void *p = mmap((void *)PG(f, 9), ps(), PROT_READ,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    assert_true(p == MAP_FAILED && errno == EEXIST);
    /* The neighbours are intact. */
    assert_kernel_prot(PG(f, 8), ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(PG(f, 11), ps(), MSET_READ | MSET_WRITE);
}

static void a_page_mapped_again_is_fresh_zeroed_memory(void **state)
{
    struct lfx *f = *state;
    unsigned char v = 1;

    assert_int_equal(mset_map(f->s, PG(f, 3), ps(), MSET_READ | MSET_WRITE, f->be, NULL, false), 0);
    assert_int_equal(touch_write(PG(f, 3), 0x5a), 0);
    assert_int_equal(mset_unmap(f->s, PG(f, 3), ps()), 0);
    assert_int_equal(mset_map(f->s, PG(f, 3), ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(touch_read(PG(f, 3), &v), 0);
    assert_int_equal(v, 0);
}

static void sets_sharing_an_arena_cannot_map_over_each_other(void **state)
{
    struct lfx *f = *state;
    mset_t *other = mset_new(NULL);

    assert_int_equal(mset_map(f->s, PG(f, 2), 4 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(touch_write(PG(f, 3), 0x11), 0);
    assert_int_equal(mset_map(other, PG(f, 5), 2 * ps(), MSET_READ, f->be, NULL, false), -EEXIST);
    assert_int_equal(mset_len(other), 0);
    assert_kernel_prot(PG(f, 2), 4 * ps(), MSET_READ | MSET_WRITE);
    assert_int_equal(*(volatile unsigned char *)PG(f, 3), 0x11);
    assert_int_equal(mset_map(other, PG(f, 6), 2 * ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(mset_clear(other), 0);
    mset_destroy(other);
}

static void protect_never_opens_up_the_reservation(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 1), ps(), MSET_READ, f->be, NULL, false), 0);
    /* Pages 1..2: page 2 is reserved, so the call is refused whole. */
    assert_int_equal(f->be->protect(f->be, NULL, PG(f, 1), 2 * ps(), RWX), -ENOMEM);
    assert_kernel_prot(PG(f, 1), ps(), MSET_READ);
    assert_kernel_prot(PG(f, 2), ps(), 0);
}

static void destroying_an_arena_with_mapped_pages_is_ebusy(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 0), ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(mset_arena_destroy(f->a), -EBUSY);
    assert_kernel_prot(PG(f, 0), ps(), MSET_READ);
    assert_kernel_prot(PG(f, 1), ps(), 0);
}

static void map_anywhere_allocates_inside_the_arena(void **state)
{
    struct lfx *f = *state;
    uintptr_t at[3];

    for (int i = 0; i < 3; i++) {
        assert_int_equal(mset_map_anywhere(f->s, 0, 3 * ps(), f->base, mset_arena_end(f->a), ps(),
                                           MSET_READ | MSET_WRITE, f->be, NULL, &at[i]),
                         0);
        assert_int_equal(at[i], PG(f, 3 * i));
        assert_int_equal(touch_write(at[i] + 3 * ps() - 1, 1), 0);
    }
    /* Full: a 64-page arena cannot hold 62 more pages after 9. */
    uintptr_t x;
    assert_int_equal(mset_map_anywhere(f->s, 0, 62 * ps(), f->base, mset_arena_end(f->a), ps(),
                                       MSET_READ, f->be, NULL, &x),
                     -ENOMEM);
}

static void bad_arena_arguments_are_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(mset_arena_new(0, 0, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mset_arena_new(0, ps() + 1, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mset_arena_new(1, ps(), NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mset_arena_new(0, ps(), "no$dollars"));
    assert_int_equal(errno, EINVAL);
    assert_null(mset_arena_backend(NULL));
    assert_int_equal(mset_arena_destroy(NULL), 0);
}

static void a_hint_is_honoured_when_the_range_is_free(void **state)
{
    (void)state;
    /* Another thread (a sanitizer's, say) may take the free range between
     * free_range() and the reservation: try a few ranges. */
    for (int tries = 0; tries < 5; tries++) {
        uintptr_t want = free_range(16 * ps());
        mset_arena_t *a = mset_arena_new(want, 16 * ps(), NULL);
        assert_non_null(a);
        uintptr_t got = mset_arena_start(a);
        assert_int_equal(mset_arena_destroy(a), 0);
        if (got == want) {
            assert_int_equal(kernel_prot(want), -1); /* destroy released it */
            return;
        }
    }
    fail_msg("the hint was never honoured");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LTEST(the_reservation_is_inaccessible_and_holds_no_memory),
        LTEST(areas_are_mapped_exactly_inside_with_their_protection),
        LTEST(a_range_outside_the_arena_is_erange),
        LTEST(unmapped_pages_go_back_to_the_reservation),
        LTEST(a_page_mapped_again_is_fresh_zeroed_memory),
        LTEST(sets_sharing_an_arena_cannot_map_over_each_other),
        LTEST(protect_never_opens_up_the_reservation),
        LTEST(destroying_an_arena_with_mapped_pages_is_ebusy),
        LTEST(map_anywhere_allocates_inside_the_arena),
        LTEST(bad_arena_arguments_are_einval),
        LTEST(a_hint_is_honoured_when_the_range_is_free),
    };
    return run_group(tests);
}
