/* SPDX-License-Identifier: MIT */
/*
 * Random operation sequences, checked after every step against a model that
 * is too simple to be wrong: one entry per byte of a small address range.
 * Every answer (return codes, areas, page table, find, overlaps,
 * find_free_area) must agree with the model, and mset_check() must pass.
 */
#include <string.h>

#include "testutil.h"

#define SPAN 0x600u

struct model {
    bool mapped[SPAN];
    unsigned flags[SPAN];
    int id[SPAN]; /* which area a byte belongs to: areas are split, never merged */
};

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* update(): a pure function of the old flags and the argument. */
static bool update(unsigned old, unsigned *nf, void *arg)
{
    unsigned k = *(unsigned *)arg;

    if ((old + k) % 4 == 0)
        return false;
    *nf = (old * 3 + k) % 5;
    return true;
}

static bool model_update(unsigned old, unsigned k, unsigned *nf)
{
    return update(old, nf, &k) && *nf != old;
}

/* Areas of the model, rebuilt from the per-byte ids. */
static size_t model_areas(const struct model *m, struct xa *out)
{
    size_t n = 0;

    for (uintptr_t a = 0; a < SPAN;) {
        if (!m->mapped[a]) {
            a++;
            continue;
        }
        uintptr_t b = a;
        while (b < SPAN && m->mapped[b] && m->id[b] == m->id[a] && m->flags[b] == m->flags[a])
            b++;
        out[n++] = (struct xa){ a, b, m->flags[a] };
        a = b;
    }
    return n;
}

static void check_against_model(struct fx *f, const struct model *m, int step)
{
    static struct xa want[SPAN];
    size_t n = model_areas(m, want);

    (void)step;
    assert_areas_(f, want, n, __FILE__, __LINE__);
    for (int q = 0; q < 8; q++) {
        uintptr_t a = rnd() % (SPAN + 0x20);
        struct mset_area got;
        bool hit = mset_find(f->s, a, &got);
        assert_int_equal(hit, a < SPAN && m->mapped[a]);
        if (hit)
            assert_int_equal(got.flags, m->flags[a]);
        size_t len = 1 + rnd() % 0x80;
        bool any = false;
        for (uintptr_t b = a; b < a + len && b < SPAN; b++)
            any |= m->mapped[b];
        assert_int_equal(mset_overlaps(f->s, a, len), any);

        size_t align = (size_t)1 << (rnd() % 4), size = align * (1 + rnd() % 8);
        uintptr_t lo = rnd() % SPAN, hi = lo + rnd() % (SPAN + 0x40 - lo), want_at = 0, at = 0;
        int wrc = -ENOMEM;
        for (uintptr_t c = (lo + align - 1) & ~(align - 1); c + size <= hi; c += align) {
            bool free_ = true;
            for (uintptr_t b = c; b < c + size && free_; b++)
                free_ = b >= SPAN || !m->mapped[b];
            if (free_) {
                wrc = 0, want_at = c;
                break;
            }
        }
        int rc = mset_find_free_area(f->s, lo, size, lo, hi, align, &at);
        assert_int_equal(rc, wrc);
        if (rc == 0)
            assert_int_equal(at, want_at);
    }
}

static void run_sequence(struct fx *f, uint64_t seed, int steps)
{
    static struct model m;
    int next_id = 1;

    memset(&m, 0, sizeof m);
    rng = seed;
    for (int step = 0; step < steps; step++) {
        uintptr_t start = rnd() % SPAN, size = 1 + rnd() % (rnd() % 4 ? 0x40 : 0x200);
        if (start + size > SPAN)
            size = SPAN - start;
        unsigned flags = rnd() % 5, k = rnd() % 7;
        bool any = false;
        for (uintptr_t b = start; b < start + size; b++)
            any |= m.mapped[b];

        switch (rnd() % 7) {
        case 0:
        case 1: { /* map, with or without unmap_overlap */
            bool ov = rnd() & 1;
            int rc = mset_map(f->s, start, size, flags, &mock_backend, NULL, ov);
            assert_int_equal(rc, any && !ov ? -EEXIST : 0);
            if (rc == 0) {
                for (uintptr_t b = start; b < start + size; b++)
                    m.mapped[b] = true, m.flags[b] = flags, m.id[b] = next_id;
                next_id++;
            }
            break;
        }
        case 2:
        case 3:
            assert_int_equal(mset_unmap(f->s, start, size), 0);
            for (uintptr_t b = start; b < start + size; b++)
                m.mapped[b] = false;
            break;
        case 4:
        case 5: {
            assert_int_equal(mset_protect(f->s, start, size, update, &k), 0);
            /* Bytes of one area get the same decision; pieces get new ids. */
            int last_id = -1, piece = 0;
            unsigned nf = 0;
            bool change = false;
            for (uintptr_t b = start; b < start + size; b++) {
                if (!m.mapped[b])
                    continue;
                if (m.id[b] != last_id) {
                    last_id = m.id[b];
                    change = model_update(m.flags[b], k, &nf);
                    piece = next_id++;
                    if (change) { /* the untouched sides become pieces too */
                        int left = next_id++, right = next_id++;
                        for (uintptr_t c = b; c-- > 0 && m.mapped[c] && m.id[c] == last_id;)
                            m.id[c] = left;
                        for (uintptr_t c = start + size; c < SPAN && m.mapped[c] && m.id[c] == last_id; c++)
                            m.id[c] = right;
                    }
                }
                if (change)
                    m.flags[b] = nf, m.id[b] = piece;
            }
            break;
        }
        case 6:
            if (rnd() % 8 == 0) {
                assert_int_equal(mset_clear(f->s), 0);
                memset(&m, 0, sizeof m);
            }
            break;
        }
        check_against_model(f, &m, step);
    }
}

static void random_sequences_agree_with_the_model(void **state)
{
    struct fx *f = *state;

    for (uint64_t seed = 1; seed <= 12; seed++) {
        run_sequence(f, seed * 0x9e3779b97f4a7c15ull, 400);
        assert_int_equal(mset_clear(f->s), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(random_sequences_agree_with_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
