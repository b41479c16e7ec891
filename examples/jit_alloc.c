/* SPDX-License-Identifier: MIT */
/*
 * A JIT-style code allocator on an arena.
 *
 * The JIT reserves one range of address space for all its code (so that
 * code stays close together and nothing else lands in between), allocates
 * each function's pages inside it, writes the machine code while the pages
 * are read-write, flips them to read-execute (W^X: never both), runs them,
 * and answers "which function is this address in?" without a lock, as a
 * profiler or a signal handler would ask it.
 *
 *   ./jit_alloc        prints what it does; exit 0 if every check held,
 *                      77 on an architecture it cannot emit code for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mset.h"

#define NFUNCS 8

struct jit {
    mset_t *code;        /* every function's pages, udata = its name */
    mset_arena_t *arena; /* the reservation they live in */
    size_t page;
};

/* Emit "int f(int x) { return x + k; }"; the code's size, or 0. */
static size_t emit_add(unsigned char *p, unsigned k)
{
#if defined(__x86_64__)
    p[0] = 0x8d; /* lea eax, [rdi + imm32] */
    p[1] = 0x87;
    memcpy(p + 2, &(uint32_t){k}, 4);
    p[6] = 0xc3; /* ret */
    return 7;
#elif defined(__aarch64__)
    uint32_t code[2] = {0x11000000u | ((k & 0xfff) << 10), 0xd65f03c0u}; /* add w0, w0, #k; ret */
    memcpy(p, code, sizeof code);
    return sizeof code;
#else
    (void)p;
    (void)k;
    return 0;
#endif
}

static bool set_flags(unsigned old, unsigned *nf, void *arg)
{
    (void)old;
    *nf = *(unsigned *)arg;
    return true;
}

/* Allocate RW pages for `size` bytes of code: find a free range in the
 * arena, then map it.  Another thread may take the range in between
 * (-EEXIST): look again.  (mset_map_anywhere() does both in one step.) */
static uintptr_t jit_alloc(struct jit *j, size_t size, const char *name)
{
    size_t len = (size + j->page - 1) / j->page * j->page;
    uintptr_t at;
    int rc;

    do {
        rc = mset_find_free_area(j->code, 0, len, mset_arena_start(j->arena),
                                 mset_arena_end(j->arena), j->page, &at);
        if (rc == 0)
            rc = mset_map(j->code, at, len, MSET_READ | MSET_WRITE, mset_arena_backend(j->arena),
                          (void *)name, false);
    } while (rc == -EEXIST);
    return rc ? 0 : at;
}

/* W^X: the function's pages become executable and stop being writable.
 * The set is byte-granular but the kernel works in pages, so the whole
 * allocation is sealed: the area containing `code`. */
static int jit_seal(struct jit *j, uintptr_t code, size_t code_len)
{
    unsigned rx = MSET_READ | MSET_EXEC;
    struct mset_area a;

    if (!mset_find(j->code, code, &a))
        return -ENOENT;
    int rc = mset_protect(j->code, a.start, a.end - a.start, set_flags, &rx);
    __builtin___clear_cache((char *)code, (char *)code + code_len);
    return rc;
}

static int call(uintptr_t code, int x)
{
    int (*f)(int);

    memcpy(&f, &code, sizeof f);
    return f(x);
}

int main(void)
{
    struct jit j = {.page = (size_t)sysconf(_SC_PAGESIZE)};
    unsigned char probe[16];
    uintptr_t fn[NFUNCS];
    char names[NFUNCS][16];
    int bad = 0;

    if (!emit_add(probe, 1)) {
        printf("no code emitter for this architecture: skipped\n");
        return 77;
    }
    j.code = mset_new(NULL);
    j.arena = mset_arena_new(0, 64 << 20, "jit");
    if (!j.code || !j.arena) {
        perror("setup");
        return 1;
    }
    printf("arena [%#lx, %#lx): 64 MiB reserved, no access, nothing committed\n",
           (unsigned long)mset_arena_start(j.arena), (unsigned long)mset_arena_end(j.arena));

    /* Compile: allocate RW, write, seal RX. */
    for (unsigned k = 0; k < NFUNCS; k++) {
        snprintf(names[k], sizeof names[k], "add_%u", 10 * k);
        size_t size = j.page * (1 + k % 3); /* functions of 1 to 3 pages */
        fn[k] = jit_alloc(&j, size, names[k]);
        if (!fn[k]) {
            fprintf(stderr, "jit_alloc failed\n");
            return 1;
        }
        size_t n = emit_add((unsigned char *)fn[k], 10 * k);
        if (jit_seal(&j, fn[k], n) != 0) {
            fprintf(stderr, "jit_seal failed\n");
            return 1;
        }
    }

    /* Run, and map a "PC" inside each function back to it. */
    for (unsigned k = 0; k < NFUNCS; k++) {
        int r = call(fn[k], 5);
        struct mset_area a;
        uintptr_t pc = fn[k] + 3; /* inside the function's code */
        bool found = mset_find(j.code, pc, &a);
        const char *who = found ? a.udata : "?";
        printf("%-7s at %#lx: f(5) = %2d; pc %#lx is in [%#lx, %#lx) %s%s%s = %s\n", names[k],
               (unsigned long)fn[k], r, (unsigned long)pc, (unsigned long)a.start,
               (unsigned long)a.end, a.flags & MSET_READ ? "r" : "-",
               a.flags & MSET_WRITE ? "w" : "-", a.flags & MSET_EXEC ? "x" : "-", who);
        if (r != 5 + 10 * (int)k || !found || a.udata != names[k] || a.start != fn[k] ||
            a.flags != (MSET_READ | MSET_EXEC))
            bad++;
    }

    /* Free one function: its pages go back to the reservation, and the next
     * allocation of that size reuses them (lowest free range first). */
    uintptr_t freed = fn[3];
    struct mset_area a;
    if (!mset_find(j.code, freed, &a) || mset_unmap(j.code, a.start, a.end - a.start) != 0)
        bad++;
    uintptr_t again = jit_alloc(&j, j.page, "add_99");
    size_t n = emit_add((unsigned char *)again, 99);
    jit_seal(&j, again, n);
    printf("freed %s at %#lx; a new function landed at %#lx and returns f(1) = %d\n", names[3],
           (unsigned long)freed, (unsigned long)again, call(again, 1));
    if (again != freed || call(again, 1) != 100)
        bad++;

    printf("%zu functions live, %s\n", mset_len(j.code), bad ? "CHECKS FAILED" : "all checks held");
    mset_clear(j.code);
    if (mset_arena_destroy(j.arena) != 0)
        bad++;
    mset_destroy(j.code);
    return bad ? 1 : 0;
}
