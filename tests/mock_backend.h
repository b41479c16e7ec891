/* SPDX-License-Identifier: MIT */
/*
 * A mock backend whose page table is one entry per byte of [0, MOCK_SPAN):
 * tests check it after each step to prove that the set calls its backend for
 * exactly the right sub-ranges.  It records contract violations (map of a
 * mapped byte, unmap or protect of an unmapped one) and can be told to fail
 * the n-th call of a kind.
 */
#ifndef MSET_TESTS_MOCK_BACKEND_H
#define MSET_TESTS_MOCK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mset.h"

#define MOCK_SPAN 0x20000u
#define MOCK_LOG 64

enum mock_op { MOCK_NONE, MOCK_MAP, MOCK_UNMAP, MOCK_PROTECT };

struct mock_call {
    enum mock_op op;
    uintptr_t start, end;
    unsigned flags;
};

struct mock_pt {
    bool mapped[MOCK_SPAN];
    unsigned flags[MOCK_SPAN];
    int violations;                 /* calls that broke the backend contract */
    /* Failure injection: the call of kind fail_op after fail_after successful
     * ones of that kind fails with fail_errno (negative), once, or every time
     * when fail_sticky. */
    enum mock_op fail_op;
    int fail_after;
    int fail_errno;
    bool fail_sticky;
    bool fail_partial;              /* a failing protect first changes half its range */
    int calls[4];                   /* successful calls per kind */
    struct mock_call log[MOCK_LOG]; /* the first MOCK_LOG calls, failed ones included */
    int nlog;
};

extern const struct mset_backend mock_backend;
/* A second, distinct backend with the same behaviour, to check that pieces
 * keep their own backend. */
extern const struct mset_backend mock_backend2;

/* A backend that does nothing and always succeeds, for tests about the set
 * alone (any address, no page table). */
extern const struct mset_backend nop_backend;

struct mock_pt *mock_pt_new(void);
void mock_pt_free(struct mock_pt *pt);
void mock_fail(struct mock_pt *pt, enum mock_op op, int after, int err);
void mock_log_reset(struct mock_pt *pt);

/* True if every byte of [start, end) is mapped with flags (or unmapped if
 * !mapped). */
bool mock_range_is(const struct mock_pt *pt, uintptr_t start, uintptr_t end, bool mapped,
                   unsigned flags);
/* True if the page table equals what the set holds, byte by byte. */
bool mock_matches_set(const struct mock_pt *pt, mset_t *s);

#endif
