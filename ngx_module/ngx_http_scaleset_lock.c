
/*
 * ngx_http_scaleset_module: a pool's slot lock.  Many readers (requests,
 * checks, the status handlers), one writer at a time (the membership
 * apply, a schedule rebuild).  Unlike ngx_rwlock, every holder is known
 * by its pid: a reader announces itself in its own entry (one cache line
 * per process slot, so readers of different workers do not share a line)
 * and the writer in the lock word, and a process that died holding the
 * lock is found with kill(pid, 0) and its hold released, as ngx_shmtx
 * does for a dead mutex holder.  Not recursive; a reader never takes the
 * write lock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


#define NGX_HTTP_SCALESET_LOCK_SPINS  11        /* 1, 2 .. 1024 pauses */
#define NGX_HTTP_SCALESET_LOCK_PROBE  64        /* yields between kill(0) */


static void ngx_http_scaleset_lock_pause(ngx_uint_t n);
static ngx_uint_t ngx_http_scaleset_lock_dead(ngx_atomic_uint_t pid);


/* the fast path failed: announce this process and wait for the writer */

void
ngx_http_scaleset_rlock_wait(ngx_http_scaleset_lock_t *lock)
{
    ngx_uint_t          n;
    ngx_atomic_t       *mine;
    ngx_atomic_uint_t   old, slots, writer;

    mine = &lock->readers[ngx_process_slot].pid;

    /* the writer looks at the entries below nreaders: ours must be one */

    for ( ;; ) {
        slots = lock->nreaders;

        if ((ngx_atomic_uint_t) ngx_process_slot < slots
            || ngx_atomic_cmp_set(&lock->nreaders, slots,
                                  (ngx_atomic_uint_t) ngx_process_slot + 1))
        {
            break;
        }
    }

    for (n = 0; /* void */; n++) {
        old = *mine;

        if (old == (ngx_atomic_uint_t) ngx_pid) {
            /* the fast path announced us while a writer was in: step back */
            ngx_memory_barrier();
            *mine = 0;
            continue;
        }

        writer = lock->writer;

        if (writer == 0) {

            /* old is 0, or a dead process that had our process slot */

            if (ngx_atomic_cmp_set(mine, old, (ngx_atomic_uint_t) ngx_pid)) {
                if (lock->writer == 0) {
                    return;
                }

                ngx_memory_barrier();
                *mine = 0;
            }

            continue;
        }

        if (n % NGX_HTTP_SCALESET_LOCK_PROBE == NGX_HTTP_SCALESET_LOCK_PROBE - 1
            && ngx_http_scaleset_lock_dead(writer))
        {
            (void) ngx_atomic_cmp_set(&lock->writer, writer, 0);
            continue;
        }

        ngx_http_scaleset_lock_pause(n);
    }
}


/*
 * Takes the write lock: the lock word first, then waits for every reader
 * to leave.  Returns the number of holds of dead processes it released,
 * for the caller to log.
 */

ngx_uint_t
ngx_http_scaleset_wlock(ngx_http_scaleset_lock_t *lock)
{
    ngx_uint_t          i, n, dead;
    ngx_atomic_uint_t   pid, slots;

    dead = 0;

    for (n = 0; /* void */; n++) {
        pid = lock->writer;

        if (pid == 0) {
            if (ngx_atomic_cmp_set(&lock->writer, 0,
                                   (ngx_atomic_uint_t) ngx_pid))
            {
                break;
            }

            continue;
        }

        if (n % NGX_HTTP_SCALESET_LOCK_PROBE == NGX_HTTP_SCALESET_LOCK_PROBE - 1
            && ngx_http_scaleset_lock_dead(pid))
        {
            if (ngx_atomic_cmp_set(&lock->writer, pid, 0)) {
                dead++;
            }

            continue;
        }

        ngx_http_scaleset_lock_pause(n);
    }

    /* readers that came after the lock word was set wait for us */

    slots = lock->nreaders;

    for (i = 0; i < slots && i < NGX_MAX_PROCESSES; i++) {

        for (n = 0; (pid = lock->readers[i].pid) != 0; n++) {

            if (n % NGX_HTTP_SCALESET_LOCK_PROBE
                == NGX_HTTP_SCALESET_LOCK_PROBE - 1
                && ngx_http_scaleset_lock_dead(pid))
            {
                if (ngx_atomic_cmp_set(&lock->readers[i].pid, pid, 0)) {
                    dead++;
                }

                continue;
            }

            ngx_http_scaleset_lock_pause(n);
        }
    }

    return dead;
}


void
ngx_http_scaleset_wunlock(ngx_http_scaleset_lock_t *lock)
{
    (void) ngx_atomic_cmp_set(&lock->writer, (ngx_atomic_uint_t) ngx_pid, 0);
}


/* spin a little on several CPUs, then give the CPU away, as ngx_rwlock */

static void
ngx_http_scaleset_lock_pause(ngx_uint_t n)
{
    ngx_uint_t  i;

    if (ngx_ncpu > 1 && n < NGX_HTTP_SCALESET_LOCK_SPINS) {
        for (i = 0; i < ((ngx_uint_t) 1 << n); i++) {
            ngx_cpu_pause();
        }

        return;
    }

    ngx_sched_yield();
}


static ngx_uint_t
ngx_http_scaleset_lock_dead(ngx_atomic_uint_t pid)
{
    if ((ngx_pid_t) pid == ngx_pid) {
        return 0;
    }

    return kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}
