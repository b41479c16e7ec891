/* SPDX-License-Identifier: MIT */
/*
 * Parsing strace's default output for the five memory calls.  A line is
 *   [PID ][TIMESTAMP ]name(arg, arg, ...) = RESULT[ ERRNO (text)][ <time>]
 * or one half of a call split across lines by another thread's output:
 *   PID name(arg, arg <unfinished ...>
 *   PID <... name resumed>, arg) = RESULT
 * ("[pid N] " instead of "PID " when strace writes to a terminal).
 */
#include "strace.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mset.h"

const char *const sc_names[SC_NKINDS] = { "mmap", "munmap", "mprotect", "mremap", "madvise" };

enum parsed { P_OP, P_FAILED, P_OTHER, P_BAD };

void strace_init(struct strace_parser *p)
{
    memset(p, 0, sizeof *p);
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A whole token [s, e) as an unsigned number: NULL, 0x..., or decimal. */
static bool parse_uint(const char *s, const char *e, uint64_t *v)
{
    if (e - s == 4 && !memcmp(s, "NULL", 4)) {
        *v = 0;
        return true;
    }
    int base = 10;
    if (e - s > 2 && s[0] == '0' && s[1] == 'x')
        s += 2, base = 16;
    if (s == e)
        return false;
    uint64_t x = 0;
    for (; s < e; s++) {
        int d = isdigit((unsigned char)*s)                       ? *s - '0'
                : base == 16 && isxdigit((unsigned char)*s) ? tolower((unsigned char)*s) - 'a' + 10
                                                                 : -1;
        if (d < 0 || x > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        x = x * (uint64_t)base + (uint64_t)d;
    }
    *v = x;
    return true;
}

static bool token_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && !memcmp(s, word, n);
}

/* PROT_* names joined by '|', or a number. */
static bool parse_prot(const char *s, const char *e, unsigned *prot)
{
    unsigned p = 0;

    while (s < e) {
        const char *t = memchr(s, '|', (size_t)(e - s));
        if (!t)
            t = e;
        uint64_t v;
        if (token_is(s, t, "PROT_READ"))
            p |= MSET_READ;
        else if (token_is(s, t, "PROT_WRITE"))
            p |= MSET_WRITE;
        else if (token_is(s, t, "PROT_EXEC"))
            p |= MSET_EXEC;
        else if (parse_uint(s, t, &v))
            p |= (unsigned)v & (MSET_READ | MSET_WRITE | MSET_EXEC);
        else if (!(t - s > 5 && !memcmp(s, "PROT_", 5)))
            return false; /* PROT_NONE, PROT_SEM, PROT_GROWSDOWN, ... add nothing */
        s = t + (t < e);
    }
    *prot = p;
    return true;
}

/* Does the '|'-joined flag list [s, e) contain `word`? */
static bool has_flag(const char *s, const char *e, const char *word)
{
    while (s < e) {
        const char *t = memchr(s, '|', (size_t)(e - s));
        if (!t)
            t = e;
        if (token_is(s, t, word))
            return true;
        s = t + (t < e);
    }
    return false;
}

#define MAX_ARGS 6

/* Parse a complete call. */
static enum parsed parse_call(const char *text, struct sc_op *op)
{
    const char *s = text, *name = s;

    while (islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')
        s++;
    if (s == name || *s != '(')
        return P_BAD;
    size_t nlen = (size_t)(s - name);
    const char *args = s + 1;

    /* The result follows the last ") = " (strace pads resumed lines with
     * spaces before the '='). */
    const char *eq = NULL, *close = NULL;
    for (const char *q = args; *q; q++) {
        if (q[0] == '=' && q[1] == ' ' && q > args && q[-1] == ' ') {
            const char *r = q - 1;
            while (r > args && *r == ' ')
                r--;
            if (*r == ')')
                eq = q, close = r;
        }
    }
    if (!eq)
        return P_BAD;

    int kind = -1;
    for (int k = 0; k < SC_NKINDS; k++)
        if (strlen(sc_names[k]) == nlen && !memcmp(name, sc_names[k], nlen))
            kind = k;
    if (kind < 0)
        return P_OTHER;

    const char *res = skip_spaces(eq + 1);
    if (*res == '?' || *res == '-')
        return P_FAILED;
    const char *res_end = res;
    while (*res_end && *res_end != ' ')
        res_end++;
    uint64_t result;
    if (!parse_uint(res, res_end, &result))
        return P_BAD;

    /* Split the arguments at commas; none of these calls nests. */
    const char *a[MAX_ARGS], *ae[MAX_ARGS];
    int na = 0;
    for (const char *q = args; q <= close && na < MAX_ARGS + 1;) {
        const char *c = q;
        while (c < close && *c != ',')
            c++;
        if (na == MAX_ARGS)
            return P_BAD;
        a[na] = skip_spaces(q);
        ae[na] = c;
        while (ae[na] > a[na] && ae[na][-1] == ' ')
            ae[na]--;
        na++;
        q = c + 1;
    }

    uint64_t v0, v1, v2 = 0;
    if (na < 2 || !parse_uint(a[0], ae[0], &v0) || !parse_uint(a[1], ae[1], &v1))
        return P_BAD;
    *op = (struct sc_op){ .kind = (enum sc_kind)kind, .addr = (uintptr_t)v0, .len = (size_t)v1 };
    switch (kind) {
    case SC_MMAP:
        if (na != 6 || !parse_prot(a[2], ae[2], &op->prot))
            return P_BAD;
        op->addr = (uintptr_t)result;
        op->fixed = has_flag(a[3], ae[3], "MAP_FIXED");
        break;
    case SC_MUNMAP:
        if (na != 2)
            return P_BAD;
        break;
    case SC_MPROTECT:
        if (na != 3 || !parse_prot(a[2], ae[2], &op->prot))
            return P_BAD;
        break;
    case SC_MREMAP:
        if ((na != 4 && na != 5) || !parse_uint(a[2], ae[2], &v2))
            return P_BAD;
        op->new_len = (size_t)v2;
        op->new_addr = (uintptr_t)result;
        op->fixed = has_flag(a[3], ae[3], "MREMAP_FIXED");
        op->dontunmap = has_flag(a[3], ae[3], "MREMAP_DONTUNMAP");
        break;
    case SC_MADVISE:
        if (na != 3)
            return P_BAD;
        break;
    }
    return P_OP;
}

static const char *const UNFINISHED = "<unfinished ...>";

static int find_pending(const struct strace_parser *p, long pid)
{
    for (size_t i = 0; i < p->npending; i++)
        if (p->pending[i].pid == pid)
            return (int)i;
    return -1;
}

static void drop_pending(struct strace_parser *p, int i)
{
    free(p->pending[i].text);
    p->pending[i] = p->pending[--p->npending];
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

bool strace_feed(struct strace_parser *p, const char *line, struct sc_op *op)
{
    struct strace_stats *st = &p->st;
    const char *s = line;
    long pid = 0;

    st->lines++;
    if (!strncmp(s, "[pid", 4)) {
        s = skip_spaces(s + 4);
        pid = strtol(s, (char **)&s, 10);
        if (*s++ != ']') {
            st->malformed++;
            return false;
        }
    } else if (isdigit((unsigned char)*s)) {
        const char *d = s;
        while (isdigit((unsigned char)*d))
            d++;
        if (*d == ' ')
            pid = strtol(s, (char **)&s, 10);
    }
    s = skip_spaces(s);
    /* A timestamp (-t, -tt, -ttt, -r) has ':' or '.' in it. */
    const char *t = s;
    while (isdigit((unsigned char)*t) || *t == ':' || *t == '.')
        t++;
    if (t > s && *t == ' ' && strpbrk(s, ":.") < t)
        s = skip_spaces(t);

    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n == 0 || !strncmp(s, "---", 3) || !strncmp(s, "+++", 3)) {
        st->other++;
        return false;
    }

    char *text = NULL;
    if (!strncmp(s, "<... ", 5)) {
        /* Second half: "<... name resumed>rest". */
        const char *nm = s + 5, *r = strstr(nm, " resumed>");
        int i = find_pending(p, pid);
        size_t nlen = r ? (size_t)(r - nm) : 0;
        if (!r || i < 0 || strncmp(p->pending[i].text, nm, nlen) || p->pending[i].text[nlen] != '(') {
            st->malformed++;
            return false;
        }
        const char *rest = r + strlen(" resumed>");
        size_t a = strlen(p->pending[i].text), b = n - (size_t)(rest - s);
        text = malloc(a + b + 1);
        if (!text) {
            st->malformed++;
            return false;
        }
        memcpy(text, p->pending[i].text, a);
        memcpy(text + a, rest, b);
        text[a + b] = 0;
        drop_pending(p, i);
        st->joined++;
    } else if (ends_with(s, n, UNFINISHED)) {
        /* First half: keep it until the same thread resumes. */
        size_t k = n - strlen(UNFINISHED);
        while (k && s[k - 1] == ' ')
            k--;
        int i = find_pending(p, pid);
        if (i >= 0) { /* the previous first half never resumed */
            st->malformed++;
            drop_pending(p, i);
        }
        char *keep = malloc(k + 1);
        if (!keep || p->npending == STRACE_MAX_PENDING) {
            free(keep);
            st->malformed++;
            return false;
        }
        memcpy(keep, s, k);
        keep[k] = 0;
        p->pending[p->npending].pid = pid;
        p->pending[p->npending++].text = keep;
        return false;
    } else {
        text = malloc(n + 1);
        if (!text) {
            st->malformed++;
            return false;
        }
        memcpy(text, s, n);
        text[n] = 0;
    }

    enum parsed r = parse_call(text, op);
    free(text);
    switch (r) {
    case P_OP:
        st->calls[op->kind]++;
        return true;
    case P_FAILED:
        st->failed++;
        break;
    case P_OTHER:
        st->other++;
        break;
    case P_BAD:
        st->malformed++;
        break;
    }
    return false;
}

void strace_finish(struct strace_parser *p)
{
    while (p->npending) {
        p->st.malformed++;
        drop_pending(p, (int)p->npending - 1);
    }
}
