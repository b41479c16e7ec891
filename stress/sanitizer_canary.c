/* SPDX-License-Identifier: MIT */
/*
 * Commits one deliberate error, named on the command line, for the sanitizer
 * of the build to report: a data race (TSan), a heap use after free (ASan),
 * a signed overflow (UBSan).  stress/meson.build runs it through
 * expect_report.sh, which passes only if the sanitizer reported the error AND
 * the run failed: proof that the sanitizer builds fail on any report.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int shared; /* written by two threads without synchronization */

static void *racer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        shared++;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";

    if (strcmp(what, "race") == 0) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, racer, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        printf("shared = %d\n", shared);
    } else if (strcmp(what, "use_after_free") == 0) {
        int *volatile p = malloc(sizeof *p);
        *p = 1;
        free(p);
        printf("%d\n", *p);
    } else if (strcmp(what, "overflow") == 0) {
        volatile int x = INT_MAX;
        printf("%d\n", x + 1);
    } else {
        fprintf(stderr, "usage: %s race|use_after_free|overflow\n", argv[0]);
        return 2;
    }
    return 0;
}
