// SPDX-License-Identifier: MIT
// mset.h compiles as C++ and its functions link with C linkage.
#include "mset.h"

static int count(const struct mset_area *, void *arg)
{
    ++*static_cast<int *>(arg);
    return 0;
}

int main()
{
    mset_t *s = mset_new(nullptr);
    int n = 0;

    if (!s)
        return 1;
    mset_foreach(s, count, &n);
    bool hit = mset_find(s, 0x1000, nullptr);
    mset_destroy(s);
    return n == 0 && !hit ? 0 : 1;
}
