/* SPDX-License-Identifier: MIT */
/*
 * What the Linux backends share: page-size checks, flags to PROT_*, and the
 * mapping primitives of backend_mmap.c (plain or inside an arena), which the
 * userfaultfd backend builds on.
 */
#ifndef MSET_BACKEND_LINUX_H
#define MSET_BACKEND_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The kernel's limit for a VMA name, terminating NUL included. */
#define LX_NAME_MAX 80

MSET_HIDDEN size_t mset_lx_page_size(void);
/* 0 if [start, start + size) is non-empty, page-aligned and does not wrap. */
MSET_HIDDEN int mset_lx_check_range(uintptr_t start, size_t size);
/* 0 if name is NULL or a name the kernel accepts; -EINVAL otherwise. */
MSET_HIDDEN int mset_lx_check_name(const char *name);

/*
 * Map, unmap or protect [start, start + size) as the arena backend does if
 * `a` is not NULL, else as the plain mmap backend does.  `name` (may be NULL)
 * names a mapped range; NULL in an arena means the arena's name.  Each
 * returns 0 or a negative errno and changes nothing on failure, except as
 * include/mset.h says under "Limits".
 */
MSET_HIDDEN int mset_lx_map(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags,
                            const char *name);
MSET_HIDDEN int mset_lx_unmap(mset_arena_t *a, uintptr_t start, size_t size);
MSET_HIDDEN int mset_lx_protect(mset_arena_t *a, uintptr_t start, size_t size, unsigned flags);

#endif /* MSET_BACKEND_LINUX_H */
