/* SPDX-License-Identifier: MIT */
/*
 * A tour of the API: map areas, split them with unmap and protect, look
 * addresses up, and print the set after each step.  The backend only logs
 * what a real one would do to the page table.
 */
#include <inttypes.h>
#include <stdio.h>

#include "mset.h"

static int log_map(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                   unsigned flags)
{
    (void)be, (void)pt;
    printf("    backend: map     [%#" PRIxPTR ", %#" PRIxPTR ") flags %u\n", start, start + size, flags);
    return 0;
}

static int log_unmap(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    (void)be, (void)pt;
    printf("    backend: unmap   [%#" PRIxPTR ", %#" PRIxPTR ")\n", start, start + size);
    return 0;
}

static int log_protect(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                       unsigned flags)
{
    (void)be, (void)pt;
    printf("    backend: protect [%#" PRIxPTR ", %#" PRIxPTR ") flags %u\n", start, start + size, flags);
    return 0;
}

static const struct mset_backend logger = { log_map, log_unmap, log_protect };

static int print_area(const struct mset_area *a, void *arg)
{
    (void)arg;
    printf("    [%#" PRIxPTR ", %#" PRIxPTR ") %c%c%c  %s\n", a->start, a->end,
           a->flags & MSET_READ ? 'r' : '-', a->flags & MSET_WRITE ? 'w' : '-',
           a->flags & MSET_EXEC ? 'x' : '-', (const char *)a->udata);
    return 0;
}

static void show(mset_t *s, const char *what)
{
    printf("%s: %zu areas\n", what, mset_len(s));
    mset_foreach(s, print_area, NULL);
}

static bool make_rx(unsigned old, unsigned *new_flags, void *arg)
{
    (void)arg;
    *new_flags = (old & ~MSET_WRITE) | MSET_READ | MSET_EXEC;
    return true;
}

int main(void)
{
    mset_t *s = mset_new(NULL);
    uintptr_t at;
    struct mset_area a;

    if (!s)
        return 1;
    printf("map heap and code\n");
    mset_map(s, 0x10000, 0x8000, MSET_READ | MSET_WRITE, &logger, "heap", false);
    mset_map(s, 0x40000, 0x4000, MSET_READ | MSET_WRITE, &logger, "code", false);
    show(s, "after map");

    printf("map over the heap without unmap_overlap: %d (-EEXIST)\n",
           mset_map(s, 0x12000, 0x1000, MSET_READ, &logger, "guard", false));

    printf("unmap a hole in the middle of the heap (a split)\n");
    mset_unmap(s, 0x13000, 0x1000);
    show(s, "after unmap");

    printf("make the middle of the code area executable (a three-way split)\n");
    mset_protect(s, 0x41000, 0x2000, make_rx, NULL);
    show(s, "after protect");

    printf("replace part of the heap (map with unmap_overlap)\n");
    mset_map(s, 0x16000, 0x4000, MSET_READ, &logger, "ro-data", true);
    show(s, "after replace");

    if (mset_find(s, 0x41234, &a))
        printf("find 0x41234 -> [%#" PRIxPTR ", %#" PRIxPTR ") %s\n", a.start, a.end, (char *)a.udata);
    printf("find 0x13800 -> %s\n", mset_find(s, 0x13800, NULL) ? "found" : "not mapped");
    if (mset_find_free_area(s, 0x10000, 0x3000, 0x10000, 0x100000, 0x1000, &at) == 0)
        printf("first free 0x3000 bytes above 0x10000: %#" PRIxPTR "\n", at);

    printf("clear\n");
    mset_clear(s);
    show(s, "after clear");
    mset_destroy(s);
    return 0;
}
