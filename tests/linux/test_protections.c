/* SPDX-License-Identifier: MIT */
/*
 * The protections the set records are the ones the hardware enforces:
 * forbidden accesses raise SIGSEGV (caught with sigsetjmp), and code
 * generated into an executable area runs.
 */
#include "linuxutil.h"

/* Emit "return value" (value < 65536) at p; the code's size, or 0 if this
 * architecture has no emitter here. */
static size_t emit_return(unsigned char *p, unsigned value)
{
#if defined(__x86_64__) || defined(__i386__)
    p[0] = 0xb8; /* mov eax, imm32 */
    memcpy(p + 1, &(uint32_t){value}, 4);
    p[5] = 0xc3; /* ret */
    return 6;
#elif defined(__aarch64__)
    uint32_t code[2] = {0x52800000u | (value << 5), 0xd65f03c0u}; /* movz w0, #v; ret */
    memcpy(p, code, sizeof code);
    return sizeof code;
#else
    (void)p;
    (void)value;
    return 0;
#endif
}

static bool set_flags(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

static int protect_to(struct lfx *f, uintptr_t start, size_t size, unsigned flags)
{
    return mset_protect(f->s, start, size, set_flags, &flags);
}

static void writing_a_read_only_area_raises_sigsegv(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 0), ps(), MSET_READ, f->be, NULL, false), 0);
    assert_int_equal(touch_read(PG(f, 0), NULL), 0);
    assert_int_equal(touch_write(PG(f, 0), 1), SIGSEGV);
}

static void reading_a_no_access_area_raises_sigsegv(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 0), ps(), 0, f->be, NULL, false), 0);
    assert_int_equal(touch_read(PG(f, 0), NULL), SIGSEGV);
}

static void protect_to_read_only_stops_writes_already_allowed(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 0), 2 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(touch_write(PG(f, 1), 1), 0);
    assert_int_equal(protect_to(f, PG(f, 1), ps(), MSET_READ), 0);
    assert_int_equal(touch_write(PG(f, 1), 2), SIGSEGV);
    assert_int_equal(touch_write(PG(f, 0), 2), 0);
    unsigned char v;
    assert_int_equal(touch_read(PG(f, 1), &v), 0);
    assert_int_equal(v, 1);
}

static void touching_an_unmapped_page_raises_sigsegv(void **state)
{
    struct lfx *f = *state;

    assert_int_equal(mset_map(f->s, PG(f, 0), 3 * ps(), MSET_READ | MSET_WRITE, f->be, NULL, false),
                     0);
    assert_int_equal(mset_unmap(f->s, PG(f, 1), ps()), 0);
    assert_int_equal(touch_write(PG(f, 1), 1), SIGSEGV);
    assert_int_equal(touch_write(PG(f, 2), 1), 0);
}

static void an_executable_area_runs_generated_code(void **state)
{
    struct lfx *f = *state;
    unsigned char probe[16];
    int out = 0;

    if (!emit_return(probe, 1))
        skip();
    assert_int_equal(mset_map(f->s, PG(f, 0), ps(), MSET_READ | MSET_WRITE, f->be, NULL, false), 0);
    size_t n = emit_return((unsigned char *)PG(f, 0), 4242);
    assert_int_equal(protect_to(f, PG(f, 0), ps(), MSET_READ | MSET_EXEC), 0);
    __builtin___clear_cache((char *)PG(f, 0), (char *)PG(f, 0) + n);
    assert_int_equal(touch_call(PG(f, 0), &out), 0);
    assert_int_equal(out, 4242);
}

static void code_in_a_non_executable_area_does_not_run(void **state)
{
    struct lfx *f = *state;
    unsigned char probe[16];
    int out = 0;

    if (!emit_return(probe, 1))
        skip();
    assert_int_equal(mset_map(f->s, PG(f, 0), ps(), MSET_READ | MSET_WRITE, f->be, NULL, false), 0);
    emit_return((unsigned char *)PG(f, 0), 7);
    assert_int_equal(touch_call(PG(f, 0), &out), SIGSEGV);
    assert_int_equal(out, 0);
}

static void w_xor_x_flips_patch_and_rerun_code(void **state)
{
    struct lfx *f = *state;
    unsigned char probe[16];
    int out = 0;

    if (!emit_return(probe, 1))
        skip();
    uintptr_t code = PG(f, 2);
    assert_int_equal(mset_map(f->s, code, ps(), MSET_READ | MSET_WRITE, f->be, NULL, false), 0);
    size_t n = emit_return((unsigned char *)code, 1);
    assert_int_equal(protect_to(f, code, ps(), MSET_READ | MSET_EXEC), 0);
    __builtin___clear_cache((char *)code, (char *)code + n);
    assert_int_equal(touch_call(code, &out), 0);
    assert_int_equal(out, 1);
    /* Executable code cannot be written... */
    assert_int_equal(touch_write(code, 0x90), SIGSEGV);
    /* ...until it is flipped back to RW, which stops it running. */
    assert_int_equal(protect_to(f, code, ps(), MSET_READ | MSET_WRITE), 0);
    assert_int_equal(touch_call(code, &out), SIGSEGV);
    emit_return((unsigned char *)code, 2);
    assert_int_equal(protect_to(f, code, ps(), MSET_READ | MSET_EXEC), 0);
    __builtin___clear_cache((char *)code, (char *)code + n);
    assert_int_equal(touch_call(code, &out), 0);
    assert_int_equal(out, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LTEST(writing_a_read_only_area_raises_sigsegv),
        LTEST(reading_a_no_access_area_raises_sigsegv),
        LTEST(protect_to_read_only_stops_writes_already_allowed),
        LTEST(touching_an_unmapped_page_raises_sigsegv),
        LTEST(an_executable_area_runs_generated_code),
        LTEST(code_in_a_non_executable_area_does_not_run),
        LTEST(w_xor_x_flips_patch_and_rerun_code),
    };
    return run_group(tests);
}
