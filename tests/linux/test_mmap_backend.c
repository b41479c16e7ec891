/* SPDX-License-Identifier: MIT */
/*
 * The plain mmap backend maps anonymous memory exactly where the set says,
 * with the set's protections, never over a mapping it does not own, and
 * answers bad requests with -EINVAL and kernel refusals with their errno.
 */
#include "linuxutil.h"

struct pfx {
    mset_t *s;
    const struct mset_backend *be;
    uintptr_t at; /* 8 free pages */
};

static int pfx_setup(void **state)
{
    struct pfx *f = calloc(1, sizeof *f);

    if (!f || !(f->s = mset_new(NULL)))
        return -1;
    f->be = mset_mmap_backend();
    f->at = free_range(8 * ps());
    *state = f;
    return 0;
}

static int pfx_teardown(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_clear(f->s), 0);
    mset_destroy(f->s);
    free(f);
    return 0;
}

#define PTEST(fn) cmocka_unit_test_setup_teardown(fn, pfx_setup, pfx_teardown)

static void maps_exactly_at_the_address_with_the_areas_protection(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_map(f->s, f->at, 4 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_kernel_prot(f->at, 4 * ps(), MSET_READ | MSET_WRITE);
    assert_int_equal(touch_write(f->at + 4 * ps() - 1, 7), 0);
    struct mset_area a;
    assert_true(mset_find(f->s, f->at + ps(), &a));
    assert_int_equal(a.start, f->at);
    assert_int_equal(a.end, f->at + 4 * ps());
}

static void new_memory_reads_as_zero(void **state)
{
    struct pfx *f = *state;
    unsigned char v = 1;

    assert_int_equal(mset_map(f->s, f->at, ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(touch_read(f->at + 100, &v), 0);
    assert_int_equal(v, 0);
}

static void never_maps_over_a_foreign_mapping(void **state)
{
    struct pfx *f = *state;
    uintptr_t mid = f->at + 2 * ps();
    char *foreign = mmap((void *)mid, ps(), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    assert_ptr_equal(foreign, (void *)mid);
    foreign[0] = 42;
    assert_int_equal(mset_map(f->s, f->at, 4 * ps(), MSET_READ, f->be, NULL, false), -EEXIST);
    /* The set is empty, the foreign page is intact, nothing else was mapped. */
    assert_int_equal(mset_len(f->s), 0);
    assert_int_equal(foreign[0], 42);
    assert_kernel_prot(mid, ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(f->at, 2 * ps(), -1);
    assert_kernel_prot(mid + ps(), ps(), -1);
    munmap(foreign, ps());
}

static void unaligned_or_empty_ranges_are_einval(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_map(f->s, f->at + 1, ps(), MSET_READ, f->be, NULL, false), -EINVAL);
    assert_int_equal(mset_map(f->s, f->at, ps() + 1, MSET_READ, f->be, NULL, false), -EINVAL);
    assert_int_equal(mset_len(f->s), 0);
    assert_kernel_prot(f->at, 2 * ps(), -1);
    /* The callbacks themselves, as another set or a wrapper would call them. */
    assert_int_equal(f->be->map(f->be, NULL, f->at, 0, MSET_READ), -EINVAL);
    assert_int_equal(f->be->unmap(f->be, NULL, f->at, 10), -EINVAL);
    assert_int_equal(f->be->protect(f->be, NULL, f->at + 8, ps(), MSET_READ), -EINVAL);
}

static void unmap_of_a_middle_page_leaves_a_hole(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_map(f->s, f->at, 3 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(mset_unmap(f->s, f->at + ps(), ps()), 0);
    assert_kernel_prot(f->at, ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(f->at + ps(), ps(), -1);
    assert_kernel_prot(f->at + 2 * ps(), ps(), MSET_READ | MSET_WRITE);
    assert_int_equal(touch_read(f->at + ps(), NULL), SIGSEGV);
    assert_int_equal(mset_len(f->s), 2);
}

static void protect_changes_exactly_the_pages_asked(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_map(f->s, f->at, 3 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    unsigned ro = MSET_READ;
    assert_int_equal(f->be->protect(f->be, NULL, f->at + ps(), ps(), ro), 0);
    assert_kernel_prot(f->at, ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(f->at + ps(), ps(), MSET_READ);
    assert_kernel_prot(f->at + 2 * ps(), ps(), MSET_READ | MSET_WRITE);
    assert_int_equal(f->be->protect(f->be, NULL, f->at + ps(), ps(), MSET_READ | MSET_WRITE), 0);
}

static bool keep_high_bits(unsigned old, unsigned *nf, void *arg)
{
    *nf = (old & ~RWX) | *(unsigned *)arg;
    return true;
}

static void flag_bits_beyond_protection_pass_through(void **state)
{
    struct pfx *f = *state;
    unsigned user = 0x100;

    assert_int_equal(mset_map(f->s, f->at, 2 * ps(), MSET_READ | user, f->be, NULL, false), 0);
    assert_kernel_prot(f->at, 2 * ps(), MSET_READ);
    unsigned rw = MSET_READ | MSET_WRITE;
    assert_int_equal(mset_protect(f->s, f->at, ps(), keep_high_bits, &rw), 0);
    assert_kernel_prot(f->at, ps(), MSET_READ | MSET_WRITE);
    struct mset_area a;
    assert_true(mset_find(f->s, f->at, &a));
    assert_int_equal(a.flags, MSET_READ | MSET_WRITE | user);
}

static void kernel_errors_come_back_as_negative_errno(void **state)
{
    struct pfx *f = *state;

    /* mprotect() of unmapped pages: ENOMEM. */
    assert_int_equal(f->be->protect(f->be, NULL, f->at, ps(), MSET_READ), -ENOMEM);
#ifndef __SANITIZE_THREAD__
    /* mmap() above the user address space: ENOMEM.  (ThreadSanitizer turns
     * addresses outside its application range into hints, so not there.) */
    uintptr_t top = UINTPTR_MAX - 2 * ps() + 1;
    assert_int_equal(f->be->map(f->be, NULL, top, ps(), MSET_READ), -ENOMEM);
#endif
}

static void map_with_unmap_overlap_replaces_the_memory(void **state)
{
    struct pfx *f = *state;
    unsigned char v = 1;

    assert_int_equal(mset_map(f->s, f->at, 2 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(touch_write(f->at + ps(), 9), 0);
    assert_int_equal(mset_map(f->s, f->at + ps(), 2 * ps(), MSET_READ, f->be, NULL, true), 0);
    assert_kernel_prot(f->at, ps(), MSET_READ | MSET_WRITE);
    assert_kernel_prot(f->at + ps(), 2 * ps(), MSET_READ);
    assert_int_equal(touch_read(f->at + ps(), &v), 0);
    assert_int_equal(v, 0);
}

static void naming_a_valid_range_never_fails_even_where_unsupported(void **state)
{
    struct pfx *f = *state;

    assert_int_equal(mset_map(f->s, f->at, ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(mset_name_range(f->at, ps(), "mset-test"), 0);
    assert_int_equal(mset_name_range(f->at, ps(), NULL), 0);
}

static void invalid_names_and_ranges_are_einval(void **state)
{
    struct pfx *f = *state;
    char longname[100];

    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(mset_map(f->s, f->at, ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(mset_name_range(f->at, ps(), "bad[name]"), -EINVAL);
    assert_int_equal(mset_name_range(f->at, ps(), "tab\there"), -EINVAL);
    assert_int_equal(mset_name_range(f->at, ps(), longname), -EINVAL);
    assert_int_equal(mset_name_range(f->at + 1, ps(), "ok"), -EINVAL);
    assert_int_equal(mset_name_range(f->at, 0, "ok"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PTEST(maps_exactly_at_the_address_with_the_areas_protection),
        PTEST(new_memory_reads_as_zero),
        PTEST(never_maps_over_a_foreign_mapping),
        PTEST(unaligned_or_empty_ranges_are_einval),
        PTEST(unmap_of_a_middle_page_leaves_a_hole),
        PTEST(protect_changes_exactly_the_pages_asked),
        PTEST(flag_bits_beyond_protection_pass_through),
        PTEST(kernel_errors_come_back_as_negative_errno),
        PTEST(map_with_unmap_overlap_replaces_the_memory),
        PTEST(naming_a_valid_range_never_fails_even_where_unsupported),
        PTEST(invalid_names_and_ranges_are_einval),
    };
    return run_group(tests);
}
