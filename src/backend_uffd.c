/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd backend: areas are mapped as by backend_mmap.c and
 * registered with a userfaultfd; a handler thread owned by the backend
 * resolves their faults.
 *
 * The fault path (docs/backends.md has the diagram).  A thread touching a
 * missing page of a registered range sleeps in the kernel, which queues a
 * message on the userfaultfd.  The handler thread reads one message at a
 * time and, holding the backend's lock:
 *   1. defers the fault if the page lies in a range this backend changed
 *      during a writer operation that the set has not published yet (see
 *      below); it is retried every millisecond, the thread still asleep;
 *   2. looks the page up with mset_find() (lock-free); if no live area of
 *      this backend holds it, it only wakes the thread, which retries and
 *      meets whatever is there now (SIGSEGV for unmapped memory);
 *   3. missing page: fills the staging page (fill callback or zeros) and
 *      installs it with UFFDIO_COPY (UFFDIO_ZEROPAGE for plain zero-fill),
 *      which also wakes the threads waiting on it;
 *      write-protect fault: clears the protection of that page;
 *   4. reports a first write to an armed page (on_write or the dirty set)
 *      after the ioctl succeeded but before the writer is woken.
 * Reading one message at a time matters: waking a page removes the other
 * queued messages for it, so a page is resolved and reported once (a stale
 * message met anyway finds the page present: EEXIST, and only a wake).
 *
 * Why wait for publication.  The core calls a backend before it publishes
 * the change in the set.  Until it does, mset_find() still returns the old
 * area: during a replace (mset_map with unmap_overlap) the handler would
 * fill the new mapping with the old area's contents.  So every callback
 * records its range with the number of the writer operation it belongs to,
 * and faults in such a range wait until the set's count of finished writer
 * operations (mset->writes_done) has reached it.  Waiting costs no lock:
 * a writer stuck on a fault of its own can never deadlock the handler.
 *
 * Why the lock.  The backend's callbacks take the same lock around
 * mmap/munmap/mprotect, so between the lookup of step 2 and the ioctl of
 * step 3 the page cannot be unmapped, nor the range be mapped again for a
 * new area.  What remains of a race ends in an ioctl error, answered with a
 * wake: EEXIST (resolved already), ENOENT (no registered mapping any more),
 * or EAGAIN (the kernel's mapping changed under the copy: retried a few
 * times first).  So the handler installs pages only inside live areas of
 * this backend, with the contents of the area the set shows for them.
 *
 * A new area is mapped PROT_NONE, registered, and only then given its
 * protection: a touch racing with the map gets SIGSEGV instead of a zero
 * page that the kernel would fill behind the handler's back.
 *
 * Write tracking.  Arming a range write-protects its pages with
 * UFFDIO_WRITEPROTECT; UFFD_FEATURE_WP_UNPOPULATED makes the kernel keep a
 * marker on pages not filled yet.  Whether a page is armed is read from
 * /proc/self/pagemap (bit 57, "uffd-wp"): a write-protect message is
 * reported only while the page is armed, and a missing page that is armed is
 * filled write-protected on a read (UFFDIO_COPY_MODE_WP) and reported on a
 * write.  A page is therefore reported exactly once per arming.
 *
 * Shut-down.  mset_uffd_destroy() refuses while areas are mapped, so no new
 * fault can arrive; it wakes the handler through an eventfd, the handler
 * answers what is queued with wakes and ends, and closing the userfaultfd
 * releases any thread the kernel still holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomics.h"
#include "backend_linux.h"

/* Newer than the kernel headers of Debian 12 (6.1); the kernel decides at
 * run time. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
struct uffdio_poison {
    struct uffdio_range range;
    __u64 mode;
    __s64 updated;
};
#define _UFFDIO_POISON 0x08
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define PM_UFFD_WP (1ull << 57) /* /proc/self/pagemap: the page is uffd-wp */
#define EAGAIN_RETRIES 16

/* A range a callback changed during writer operation number `op`. */
struct pending {
    uintptr_t start, end;
    uint64_t op;
};

struct mset_uffd {
    struct mset_backend be; /* first: the callbacks recover the backend from it */
    mset_t *set;
    struct mset_uffd_config cfg; /* cfg.name points to name */
    char name[LX_NAME_MAX];
    int fd;          /* the userfaultfd */
    int stop_fd;     /* eventfd: destroy() wakes the handler */
    int pagemap_fd;  /* -1 when write tracking is unavailable */
    bool can_wp;     /* write tracking works on this kernel */
    bool can_poison; /* UFFDIO_POISON works on this kernel */
    pthread_t thread;
    void *page; /* staging page; handler thread only */

    /* Faults waiting for a publication; handler thread only. */
    struct uffd_msg *deferred;
    size_t ndeferred, deferred_cap;

    /* Everything below is under lock (see the top of the file). */
    pthread_mutex_t lock;
    struct pending *pending; /* ranges changed by unpublished operations */
    size_t npending, pending_cap;
    bool tracking;    /* some range was armed: pagemap must be read */
    size_t mapped;    /* bytes mapped by this backend */
    uintptr_t *dirty; /* recorded pages, unsorted, maybe repeated */
    size_t ndirty, dirty_cap;
    bool dirty_lost; /* a record failed for lack of memory */

    /* Counters: relaxed atomics, they order nothing. */
    uint64_t n_faults, n_filled, n_writes, n_woken, n_fill_errors;
};

/* Counters are bumped before the ioctl that wakes the faulting thread, so a
 * thread back from a fault finds it counted (a failed fill is uncounted). */
static void count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void uncount(uint64_t *c)
{
    __atomic_fetch_sub(c, 1, __ATOMIC_RELAXED);
}

static mset_uffd_t *uffd_of(const struct mset_backend *be)
{
    return (mset_uffd_t *)(uintptr_t)be;
}

/* ------------------------------------------------------------ the ioctls */

static void wake(const mset_uffd_t *u, uintptr_t page)
{
    struct uffdio_range r = {.start = page, .len = mset_lx_page_size()};

    ioctl(u->fd, UFFDIO_WAKE, &r); /* cannot fail for a valid range */
}

/* Install the staging page (or the zero page) at `page`; 0 or -errno. */
static int install(const mset_uffd_t *u, uintptr_t page, bool zero, bool wp, bool dontwake)
{
    size_t ps = mset_lx_page_size();
    int rc;

    for (int tries = 0; tries < EAGAIN_RETRIES; tries++) {
        if (zero) {
            struct uffdio_zeropage z = {.range = {page, ps},
                                        .mode = dontwake ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0};
            rc = ioctl(u->fd, UFFDIO_ZEROPAGE, &z);
        } else {
            struct uffdio_copy c = {.dst = page,
                                    .src = (uintptr_t)u->page,
                                    .len = ps,
                                    .mode = (wp ? UFFDIO_COPY_MODE_WP : 0) |
                                            (dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0)};
            rc = ioctl(u->fd, UFFDIO_COPY, &c);
        }
        if (rc == 0)
            return 0;
        if (errno != EAGAIN)
            return -errno;
    }
    return -EAGAIN;
}

static int writeprotect(const mset_uffd_t *u, uintptr_t start, size_t size, bool on, bool dontwake)
{
    struct uffdio_writeprotect w = {
        .range = {start, size},
        .mode = (on ? UFFDIO_WRITEPROTECT_MODE_WP : 0) |
                (dontwake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0),
    };

    return ioctl(u->fd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

/* Whether `page` is write-protected for tracking (a present page or a
 * marker on a missing one). */
static bool armed(const mset_uffd_t *u, uintptr_t page)
{
    uint64_t e = 0;

    if (pread(u->pagemap_fd, &e, sizeof e, (off_t)(page / mset_lx_page_size() * sizeof e)) !=
        sizeof e)
        return false;
    return e & PM_UFFD_WP;
}

/* ---------------------------------------------------------- publication */

static uint64_t writes_done(const mset_uffd_t *u)
{
    /* Acquire: pairs with the release in unlock_writer() (set.c), so the
     * lookup that follows sees what the operation published. */
    return atomic_load_acquire(&u->set->writes_done);
}

/* Record that a callback changed [start, end) in the writer operation now
 * running (callbacks run with the writer mutex held); under u->lock.  If
 * memory runs out the entry is dropped: the race it guards against then
 * gets the old area's view, as it would without this. */
static void note_pending(mset_uffd_t *u, uintptr_t start, size_t size)
{
    /* Called outside a writer operation (directly, not through the set):
     * there is nothing to wait for, and waiting for the next operation
     * could last for ever. */
    if (pthread_mutex_trylock(&u->set->lock) == 0) {
        pthread_mutex_unlock(&u->set->lock);
        return;
    }
    uint64_t op = atomic_load_relaxed(&u->set->writes_done) + 1;

    if (u->npending == u->pending_cap) {
        size_t cap = u->pending_cap ? 2 * u->pending_cap : 8;
        struct pending *p = realloc(u->pending, cap * sizeof *p);
        if (!p)
            return;
        u->pending = p;
        u->pending_cap = cap;
    }
    u->pending[u->npending++] = (struct pending){start, start + size, op};
}

/* Whether `page` is in a range whose operation is not published yet;
 * forgets the published ones.  Under u->lock. */
static bool unpublished(mset_uffd_t *u, uintptr_t page)
{
    uint64_t done = writes_done(u);
    bool hit = false;
    size_t k = 0;

    for (size_t i = 0; i < u->npending; i++) {
        struct pending *p = &u->pending[i];
        if (p->op <= done)
            continue;
        hit |= p->start <= page && page < p->end;
        u->pending[k++] = *p;
    }
    u->npending = k;
    return hit;
}

/* -------------------------------------------------------------- handler */

static void report(mset_uffd_t *u, uintptr_t page, const struct mset_area *a)
{
    count(&u->n_writes);
    if (u->cfg.on_write) {
        u->cfg.on_write(page, a, u->cfg.arg);
        return;
    }
    if (u->ndirty == u->dirty_cap) {
        size_t cap = u->dirty_cap ? 2 * u->dirty_cap : 64;
        uintptr_t *d = realloc(u->dirty, cap * sizeof *d);
        if (!d) {
            u->dirty_lost = true;
            return;
        }
        u->dirty = d;
        u->dirty_cap = cap;
    }
    u->dirty[u->ndirty++] = page;
}

static void answer_with_wake(mset_uffd_t *u, uintptr_t page)
{
    count(&u->n_woken);
    wake(u, page);
}

static void resolve_missing(mset_uffd_t *u, uintptr_t page, bool write, const struct mset_area *a)
{
    bool wp = u->tracking && armed(u, page);
    bool zero = !u->cfg.fill && !wp; /* UFFDIO_ZEROPAGE would drop the marker */

    if (u->cfg.fill) {
        memset(u->page, 0, mset_lx_page_size());
        if (u->cfg.fill(u->page, page, mset_lx_page_size(), a, u->cfg.arg) != 0) {
            count(&u->n_fill_errors);
            struct uffdio_poison p = {.range = {page, mset_lx_page_size()}};
            count(&u->n_filled);
            if (u->can_poison && ioctl(u->fd, UFFDIO_POISON, &p) == 0)
                return;
            uncount(&u->n_filled);
            memset(u->page, 0, mset_lx_page_size());
        }
    }
    /* An armed page being written is installed writable and reported before
     * the writer runs; read, it stays armed. */
    bool report_it = wp && write;
    count(&u->n_filled);
    if (install(u, page, zero, wp && !write, report_it)) {
        uncount(&u->n_filled);
        answer_with_wake(u, page);
        return;
    }
    if (report_it) {
        report(u, page, a);
        wake(u, page);
    }
}

static void resolve_wp(mset_uffd_t *u, uintptr_t page, const struct mset_area *a)
{
    /* Not armed any more: disarmed, or this message raced with a wake. */
    if (!armed(u, page) || writeprotect(u, page, mset_lx_page_size(), false, true)) {
        answer_with_wake(u, page);
        return;
    }
    report(u, page, a);
    wake(u, page);
}

static uintptr_t page_of(const struct uffd_msg *m)
{
    return m->arg.pagefault.address & ~(uintptr_t)(mset_lx_page_size() - 1);
}

/* Resolve one fault; false if it must wait for a publication. */
static bool resolve(mset_uffd_t *u, const struct uffd_msg *m)
{
    uintptr_t page = page_of(m);
    uint64_t fl = m->arg.pagefault.flags;
    struct mset_area a;

    pthread_mutex_lock(&u->lock);
    if (unpublished(u, page)) {
        pthread_mutex_unlock(&u->lock);
        return false;
    }
    count(&u->n_faults);
    if (!mset_find(u->set, page, &a) || a.backend != &u->be) {
        answer_with_wake(u, page);
    } else if (fl & UFFD_PAGEFAULT_FLAG_WP) {
        resolve_wp(u, page, &a);
    } else {
        resolve_missing(u, page, fl & UFFD_PAGEFAULT_FLAG_WRITE, &a);
    }
    pthread_mutex_unlock(&u->lock);
    return true;
}

static void defer(mset_uffd_t *u, const struct uffd_msg *m)
{
    if (u->ndeferred == u->deferred_cap) {
        size_t cap = u->deferred_cap ? 2 * u->deferred_cap : 16;
        struct uffd_msg *d = realloc(u->deferred, cap * sizeof *d);
        if (!d) {
            /* No room to wait here: the thread faults again instead. */
            wake(u, page_of(m));
            return;
        }
        u->deferred = d;
        u->deferred_cap = cap;
    }
    u->deferred[u->ndeferred++] = *m;
}

static void retry_deferred(mset_uffd_t *u)
{
    size_t k = 0;

    for (size_t i = 0; i < u->ndeferred; i++)
        if (!resolve(u, &u->deferred[i]))
            u->deferred[k++] = u->deferred[i];
    u->ndeferred = k;
}

/* Handle every queued message, one at a time, until the queue is empty. */
static void drain(mset_uffd_t *u)
{
    struct uffd_msg m;

    for (;;) {
        ssize_t n = read(u->fd, &m, sizeof m);
        if (n != sizeof m) {
            if (n < 0 && errno == EINTR)
                continue;
            return; /* EAGAIN: empty */
        }
        if (m.event == UFFD_EVENT_PAGEFAULT && !resolve(u, &m))
            defer(u, &m);
    }
}

static void *handler(void *arg)
{
    mset_uffd_t *u = arg;

    for (;;) {
        struct pollfd p[2] = {{.fd = u->fd, .events = POLLIN},
                              {.fd = u->stop_fd, .events = POLLIN}};
        /* A publication is microseconds away: look again in a millisecond. */
        if (poll(p, 2, u->ndeferred ? 1 : -1) < 0)
            continue; /* EINTR */
        retry_deferred(u);
        drain(u);
        if (p[1].revents)
            break;
    }
    /* destroy() saw no area mapped and no callback running, so nothing can
     * fault any more; answer what is left with wakes. */
    drain(u);
    for (size_t i = 0; i < u->ndeferred; i++)
        wake(u, page_of(&u->deferred[i]));
    u->ndeferred = 0;
    return NULL;
}

/* ------------------------------------------------------------ callbacks */

static int uffd_map_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                       unsigned flags)
{
    mset_uffd_t *u = uffd_of(be);
    (void)pt;
    int rc = mset_lx_check_range(start, size);
    if (rc)
        return rc;

    pthread_mutex_lock(&u->lock);
    /* No access until registered (top of file). */
    rc = mset_lx_map(u->cfg.arena, start, size, 0, u->cfg.name);
    if (rc == 0) {
        struct uffdio_register r = {
            .range = {start, size},
            .mode = UFFDIO_REGISTER_MODE_MISSING | (u->can_wp ? UFFDIO_REGISTER_MODE_WP : 0),
        };
        if (ioctl(u->fd, UFFDIO_REGISTER, &r))
            rc = -errno;
        else if (flags & (MSET_READ | MSET_WRITE | MSET_EXEC))
            rc = mset_lx_protect(u->cfg.arena, start, size, flags);
        if (rc) {
            mset_lx_unmap(u->cfg.arena, start, size); /* give the range back */
        } else {
            u->mapped += size;
            note_pending(u, start, size);
        }
    }
    pthread_mutex_unlock(&u->lock);
    return rc;
}

/* Drop the recorded pages of [start, end): they belong to no area now. */
static void forget_dirty(mset_uffd_t *u, uintptr_t start, uintptr_t end)
{
    size_t k = 0;

    for (size_t i = 0; i < u->ndirty; i++)
        if (u->dirty[i] < start || u->dirty[i] >= end)
            u->dirty[k++] = u->dirty[i];
    u->ndirty = k;
}

static int uffd_unmap_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size)
{
    mset_uffd_t *u = uffd_of(be);
    (void)pt;
    int rc = mset_lx_check_range(start, size);
    if (rc)
        return rc;

    pthread_mutex_lock(&u->lock);
    /* Unmapping also unregisters: faults queued for the range end in ENOENT
     * and a wake (top of file). */
    rc = mset_lx_unmap(u->cfg.arena, start, size);
    if (rc == 0) {
        u->mapped -= size;
        forget_dirty(u, start, start + size);
        note_pending(u, start, size);
    }
    pthread_mutex_unlock(&u->lock);
    return rc;
}

static int uffd_protect_cb(const struct mset_backend *be, void *pt, uintptr_t start, size_t size,
                           unsigned flags)
{
    mset_uffd_t *u = uffd_of(be);
    (void)pt;
    int rc = mset_lx_check_range(start, size);
    if (rc)
        return rc;

    /* mprotect() keeps the registration and the uffd-wp bits; a fault in
     * flight is filled once the set shows the new flags, and then retried by
     * the kernel under the new protection. */
    pthread_mutex_lock(&u->lock);
    rc = mset_lx_protect(u->cfg.arena, start, size, flags);
    if (rc == 0)
        note_pending(u, start, size);
    pthread_mutex_unlock(&u->lock);
    return rc;
}

/* ------------------------------------------------------------- lifetime */

static int open_uffd(unsigned flags)
{
    int fl = O_CLOEXEC | O_NONBLOCK | ((flags & MSET_UFFD_KERNEL_FAULTS) ? 0 : UFFD_USER_MODE_ONLY);
    int fd = (int)syscall(SYS_userfaultfd, fl);

    if (fd < 0 && errno == EINVAL && (fl & UFFD_USER_MODE_ONLY)) {
        /* Before 5.11 the flag is unknown, and user-mode faults are all a
         * kernel of that age handles for an unprivileged process anyway. */
        fd = (int)syscall(SYS_userfaultfd, fl & ~UFFD_USER_MODE_ONLY);
    }
    if (fd < 0 && errno == EPERM) {
        /* /dev/userfaultfd (6.1) grants by file permission. */
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            int fd2 = ioctl(dev, USERFAULTFD_IOC_NEW, fl);
            close(dev);
            if (fd2 >= 0)
                return fd2;
        }
        errno = EPERM;
    }
    return fd;
}

/* Open the userfaultfd and agree on features: write tracking needs WP
 * faults on anonymous memory and markers on unpopulated pages. */
static int setup_fd(mset_uffd_t *u)
{
    /* UFFDIO_API can be called once per descriptor: probe on another. */
    int probe = open_uffd(u->cfg.flags);
    if (probe < 0)
        return -errno;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    int rc = ioctl(probe, UFFDIO_API, &api) ? -errno : 0;
    close(probe);
    if (rc)
        return rc == -EINVAL ? -EOPNOTSUPP : rc;

    uint64_t want_wp = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED;
    uint64_t want = 0;
    if ((api.features & want_wp) == want_wp)
        want |= want_wp;
    if (api.features & UFFD_FEATURE_POISON)
        want |= UFFD_FEATURE_POISON;

    if ((u->fd = open_uffd(u->cfg.flags)) < 0)
        return -errno;
    api = (struct uffdio_api){.api = UFFD_API, .features = want};
    if (ioctl(u->fd, UFFDIO_API, &api))
        return -errno;
    if (!(api.ioctls & (1ull << _UFFDIO_REGISTER)))
        return -EOPNOTSUPP;
    if (want & UFFD_FEATURE_PAGEFAULT_FLAG_WP) {
        u->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        u->can_wp = u->pagemap_fd >= 0;
    }
    u->can_poison = want & UFFD_FEATURE_POISON;
    return 0;
}

static void free_uffd(mset_uffd_t *u)
{
    if (u->fd >= 0)
        close(u->fd);
    if (u->stop_fd >= 0)
        close(u->stop_fd);
    if (u->pagemap_fd >= 0)
        close(u->pagemap_fd);
    free(u->page);
    free(u->dirty);
    free(u->pending);
    free(u->deferred);
    free(u);
}

MSET_API mset_uffd_t *mset_uffd_new(mset_t *s, const struct mset_uffd_config *cfg)
{
    struct mset_uffd_config c = {0};

    if (cfg)
        c = *cfg;
    if (!s || (c.flags & ~MSET_UFFD_KERNEL_FAULTS) || mset_lx_check_name(c.name)) {
        errno = EINVAL;
        return NULL;
    }
    mset_uffd_t *u = calloc(1, sizeof *u);
    if (!u) {
        errno = ENOMEM;
        return NULL;
    }
    u->be = (struct mset_backend){uffd_map_cb, uffd_unmap_cb, uffd_protect_cb};
    u->set = s;
    u->cfg = c;
    u->cfg.name = NULL;
    if (c.name && c.name[0]) {
        strcpy(u->name, c.name); /* length checked by mset_lx_check_name() */
        u->cfg.name = u->name;
    }
    u->fd = u->stop_fd = u->pagemap_fd = -1;

    int rc = setup_fd(u);
    if (rc == 0 && (u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        rc = -errno;
    if (rc == 0 && !(u->page = aligned_alloc(mset_lx_page_size(), mset_lx_page_size())))
        rc = -ENOMEM;
    if (rc) {
        free_uffd(u);
        errno = -rc;
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);

    /* The handler takes no signal meant for the process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&u->thread, NULL, handler, u);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pthread_mutex_destroy(&u->lock);
        free_uffd(u);
        errno = rc;
        return NULL;
    }
    pthread_setname_np(u->thread, "mset-uffd");
    return u;
}

MSET_API const struct mset_backend *mset_uffd_backend(mset_uffd_t *u)
{
    return u ? &u->be : NULL;
}

MSET_API int mset_uffd_destroy(mset_uffd_t *u)
{
    if (!u)
        return 0;
    pthread_mutex_lock(&u->lock);
    size_t mapped = u->mapped;
    pthread_mutex_unlock(&u->lock);
    if (mapped)
        return -EBUSY;
    uint64_t one = 1;
    while (write(u->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(u->thread, NULL);
    pthread_mutex_destroy(&u->lock);
    free_uffd(u); /* closing the userfaultfd releases any thread left */
    return 0;
}

/* ------------------------------------------------------- write tracking */

/* 0 if [start, end) lies in live areas of this backend; under u->lock. */
static int covered(mset_uffd_t *u, uintptr_t start, uintptr_t end)
{
    struct mset_area a;

    for (uintptr_t p = start; p < end; p = a.end)
        if (!mset_find(u->set, p, &a) || a.backend != &u->be)
            return -ENOENT;
    return 0;
}

static int set_tracking(mset_uffd_t *u, uintptr_t start, size_t size, bool on)
{
    if (!u)
        return -EINVAL;
    int rc = mset_lx_check_range(start, size);
    if (rc)
        return rc;
    if (!u->can_wp)
        return -EOPNOTSUPP;
    pthread_mutex_lock(&u->lock);
    rc = covered(u, start, start + size);
    if (rc == 0)
        rc = writeprotect(u, start, size, on, false);
    if (rc == 0 && on)
        u->tracking = true;
    pthread_mutex_unlock(&u->lock);
    return rc;
}

MSET_API int mset_uffd_track_writes(mset_uffd_t *u, uintptr_t start, size_t size)
{
    return set_tracking(u, start, size, true);
}

MSET_API int mset_uffd_untrack_writes(mset_uffd_t *u, uintptr_t start, size_t size)
{
    return set_tracking(u, start, size, false);
}

static int cmp_addr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;

    return (a > b) - (a < b);
}

MSET_API int mset_uffd_collect_dirty(mset_uffd_t *u, bool rearm,
                                     void (*fn)(uintptr_t start, size_t size, void *arg), void *arg)
{
    if (!u || !fn)
        return -EINVAL;
    size_t ps = mset_lx_page_size();
    int rc = 0;

    pthread_mutex_lock(&u->lock);
    uintptr_t *d = u->dirty;
    size_t n = u->ndirty;
    bool lost = u->dirty_lost;
    u->dirty = NULL;
    u->ndirty = u->dirty_cap = 0;
    u->dirty_lost = false;

    if (n) /* qsort() wants a non-NULL array even when empty */
        qsort(d, n, sizeof *d, cmp_addr);
    /* Runs of consecutive pages, repeats folded in: re-arm, then report. */
    for (size_t i = 0; i < n;) {
        uintptr_t start = d[i], end = start + ps;
        while (++i < n && d[i] <= end)
            end = d[i] + ps;
        int r = rearm ? writeprotect(u, start, end - start, true, false) : 0;
        if (r && !rc)
            rc = r;
        fn(start, end - start, arg);
    }
    pthread_mutex_unlock(&u->lock);
    free(d);
    return lost ? -ENOBUFS : rc;
}

MSET_API void mset_uffd_stats(const mset_uffd_t *u, struct mset_uffd_stats *out)
{
    if (!u || !out)
        return;
    out->faults = __atomic_load_n(&u->n_faults, __ATOMIC_RELAXED);
    out->filled = __atomic_load_n(&u->n_filled, __ATOMIC_RELAXED);
    out->writes = __atomic_load_n(&u->n_writes, __ATOMIC_RELAXED);
    out->woken = __atomic_load_n(&u->n_woken, __ATOMIC_RELAXED);
    out->fill_errors = __atomic_load_n(&u->n_fill_errors, __ATOMIC_RELAXED);
}
