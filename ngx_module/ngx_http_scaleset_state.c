
/*
 * ngx_http_scaleset_module: the state file, one per pool: the last known
 * membership, written by the lease holder after each applied change and
 * loaded when a pool's zone is created, so nginx serves the last known
 * members while Redis is unreachable.
 *
 *     # scaleset pool=web epoch=7
 *     web-000001 127.0.0.1:8081 weight=2 zone=z1
 *
 * A write formats the members on the event loop, then a thread of nginx's
 * thread pool writes a temporary file of this process's own
 * (POOL.state.PID.tmp: two nginx instances, or an old and a new lease
 * holder, sharing the directory never share it), fsyncs it, renames it
 * into place and fsyncs the directory.  One write per pool is in flight;
 * a change meanwhile is written after it.  The master reads the file as
 * root from a directory the workers can write: no symlink, no FIFO, no
 * hard link, nothing larger than the pool can need.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


struct ngx_http_scaleset_state_s {
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_log_t                      *log;

    u_char                         *tmp;       /* NUL-terminated */
    u_char                         *dir;

    u_char                         *buf;       /* ngx_alloc()ed */
    size_t                          len;
    ngx_uint_t                      count;
    uint64_t                        epoch;

    const char                     *failed;    /* the call, or NULL */
    ngx_err_t                       err;

#if (NGX_THREADS)
    ngx_thread_task_t              *task;
#endif

    unsigned                        busy:1;
    unsigned                        again:1;
};


static ngx_http_scaleset_state_t *ngx_http_scaleset_state_ctx(
    ngx_http_scaleset_srv_conf_t *sscf, ngx_log_t *log);
static size_t ngx_http_scaleset_state_size(ngx_http_scaleset_shctx_t *sh);
static void ngx_http_scaleset_state_save(void *data, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_scaleset_state_event(ngx_event_t *ev);
#endif
static void ngx_http_scaleset_state_done(ngx_http_scaleset_state_t *st);


/* the most a state file of this pool can hold */

static size_t
ngx_http_scaleset_state_size(ngx_http_scaleset_shctx_t *sh)
{
    return 128 + sh->max_members * (SCALESET_ID_MAX + 2 + SCALESET_RECORD_MAX);
}


ngx_int_t
ngx_http_scaleset_state_write(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log)
{
    u_char                     *p, *last;
    size_t                      size;
    ssize_t                     n;
    ngx_uint_t                  i;
    scaleset_error_t            serr;
    scaleset_member_t           m;
    u_char                      addr[NGX_SOCKADDR_STRLEN];
    ngx_http_scaleset_slot_t   *slot;
    ngx_http_scaleset_shctx_t  *sh;
    ngx_http_scaleset_state_t  *st;

    if (sscf->state_file.len == 0) {
        return NGX_DECLINED;
    }

    st = ngx_http_scaleset_state_ctx(sscf, log);
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (st->busy) {
        /* written again, from the slots as they are then */
        st->again = 1;
        return NGX_AGAIN;
    }

    sh = sscf->sh;
    size = ngx_http_scaleset_state_size(sh);

    st->buf = ngx_alloc(size, log);
    if (st->buf == NULL) {
        return NGX_ERROR;
    }

    p = st->buf;
    last = st->buf + size;

    /* the lease holder is the only writer of slots: no lock needed */

    p = ngx_slprintf(p, last, "# scaleset pool=%V epoch=%uL\n",
                     &sscf->pool, sh->epoch);

    st->count = 0;
    st->epoch = sh->epoch;

    for (i = 0; i < sh->max_members; i++) {
        slot = &sh->slots[i];

        if (!slot->in_use) {
            continue;
        }

        ngx_http_scaleset_slot_member(slot, &m, addr);

        p = ngx_slprintf(p, last, "%*s ", (size_t) slot->id_len, slot->id);

        if (last - p < SCALESET_RECORD_MAX + 2) {
            break;
        }

        n = scaleset_member_format(&m, (char *) p, last - p, &serr);
        if (n < 0) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "scaleset: cannot format member \"%s\": %s",
                          slot->id, serr.msg);
            ngx_free(st->buf);
            st->buf = NULL;
            return NGX_ERROR;
        }

        p += n;
        *p++ = '\n';
        st->count++;
    }

    st->len = p - st->buf;
    st->log = log;
    st->busy = 1;

#if (NGX_THREADS)

    if (sscf->main->thread_pool) {
        st->task->handler = ngx_http_scaleset_state_save;
        st->task->event.handler = ngx_http_scaleset_state_event;
        st->task->event.data = st;
        st->task->event.log = log;

        if (ngx_thread_task_post(sscf->main->thread_pool, st->task)
            == NGX_OK)
        {
            return NGX_OK;
        }

        /* the queue is full: write it here */
    }

#endif

    ngx_http_scaleset_state_save(st, log);
    ngx_http_scaleset_state_done(st);

    return NGX_OK;
}


/* this process's writer of a pool's state file, made on first use */

static ngx_http_scaleset_state_t *
ngx_http_scaleset_state_ctx(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log)
{
    ngx_str_t                  *dir;
    ngx_http_scaleset_state_t  *st;

    if (sscf->state) {
        return sscf->state;
    }

    st = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_scaleset_state_t));
    if (st == NULL) {
        return NULL;
    }

    dir = &sscf->main->state_path->name;

    st->tmp = ngx_pnalloc(ngx_cycle->pool,
                          sscf->state_file.len + sizeof(".tmp")
                          + NGX_INT64_LEN + 1);
    st->dir = ngx_pnalloc(ngx_cycle->pool, dir->len + 1);
    if (st->tmp == NULL || st->dir == NULL) {
        return NULL;
    }

    ngx_sprintf(st->tmp, "%V.%P.tmp%Z", &sscf->state_file, ngx_pid);
    ngx_cpystrn(st->dir, dir->data, dir->len + 1);

#if (NGX_THREADS)
    st->task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
    if (st->task == NULL) {
        return NULL;
    }

    st->task->ctx = st;
#endif

    st->sscf = sscf;
    sscf->state = st;

    return st;
}


/*
 * The file system part, on a thread of the pool (or the event loop when
 * there is none): nothing here logs or touches shared memory.
 */

static void
ngx_http_scaleset_state_save(void *data, ngx_log_t *log)
{
    ngx_http_scaleset_state_t *st = data;

    u_char    *p;
    ssize_t    n;
    ngx_fd_t   fd;

    st->failed = NULL;

    /* whatever is left under our name, a symlink too, goes first */
    (void) unlink((char *) st->tmp);

    fd = ngx_open_file(st->tmp, NGX_FILE_WRONLY|NGX_FILE_NOFOLLOW,
                       NGX_FILE_CREATE_OR_OPEN|O_EXCL,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        st->failed = ngx_open_file_n;
        goto failed;
    }

    for (p = st->buf; p < st->buf + st->len; p += n) {
        n = write(fd, p, st->buf + st->len - p);

        if (n == -1 && ngx_errno == NGX_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            st->failed = "write()";
            goto close;
        }
    }

    if (fsync(fd) == -1) {
        st->failed = "fsync()";
        goto close;
    }

close:

    if (st->failed) {
        st->err = ngx_errno;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR && st->failed == NULL) {
        st->failed = ngx_close_file_n;
        st->err = ngx_errno;
    }

    if (st->failed) {
        (void) unlink((char *) st->tmp);
        return;
    }

    if (ngx_rename_file(st->tmp, st->sscf->state_file.data)
        == NGX_FILE_ERROR)
    {
        st->failed = ngx_rename_file_n;
        goto failed;
    }

    /* the rename itself lasts once the directory is on disk */

    fd = ngx_open_file(st->dir, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        st->failed = ngx_open_file_n;
        st->err = ngx_errno;
        return;
    }

    if (fsync(fd) == -1) {
        st->failed = "fsync()";
        st->err = ngx_errno;
    }

    (void) ngx_close_file(fd);

    return;

failed:

    st->err = ngx_errno;
    (void) unlink((char *) st->tmp);
}


#if (NGX_THREADS)

static void
ngx_http_scaleset_state_event(ngx_event_t *ev)
{
    ngx_http_scaleset_state_done(ev->data);
}

#endif


/* back on the event loop: say what failed, write again if asked */

static void
ngx_http_scaleset_state_done(ngx_http_scaleset_state_t *st)
{
    if (st->failed) {
        ngx_log_error(NGX_LOG_ERR, st->log, st->err,
                      "scaleset: pool \"%V\": writing the state file \"%V\" "
                      "failed in %s", &st->sscf->pool,
                      &st->sscf->state_file, st->failed);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, st->log, 0,
                       "scaleset state: \"%V\" written, %ui members, "
                       "epoch %uL", &st->sscf->state_file, st->count,
                       st->epoch);
    }

    ngx_free(st->buf);
    st->buf = NULL;
    st->busy = 0;

    if (st->again) {
        st->again = 0;
        (void) ngx_http_scaleset_state_write(st->sscf, st->log);
    }
}


ngx_int_t
ngx_http_scaleset_state_load(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log)
{
    u_char          *buf, *p, *last, *eol, *sp, *e;
    ssize_t          n;
    uint64_t         epoch;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_pool_t      *pool;
    ngx_file_info_t  fi;
    ngx_array_t      members;

    /* a FIFO must not block the master: nonblocking, then fstat() */

    fd = ngx_open_file(sscf->state_file.data,
                       NGX_FILE_RDONLY|NGX_FILE_NONBLOCK|NGX_FILE_NOFOLLOW,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed",
                          &sscf->state_file);
        }

        return NGX_DECLINED;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &sscf->state_file);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "scaleset: \"%V\" is not a regular file, not loaded",
                      &sscf->state_file);
        goto failed;
    }

    if (fi.st_nlink != 1) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "scaleset: \"%V\" has %uL links, not loaded",
                      &sscf->state_file, (uint64_t) fi.st_nlink);
        goto failed;
    }

    if (ngx_file_size(&fi) > (off_t) ngx_http_scaleset_state_size(sscf->sh)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "scaleset: \"%V\" is larger than %uz bytes, the most "
                      "max_members=%ui can need, not loaded",
                      &sscf->state_file,
                      ngx_http_scaleset_state_size(sscf->sh),
                      sscf->sh->max_members);
        goto failed;
    }

    buf = ngx_pnalloc(pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, ngx_file_size(&fi));
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "scaleset: reading \"%V\" failed", &sscf->state_file);
        goto failed;
    }

    (void) ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    if (ngx_array_init(&members, pool, 64, sizeof(ngx_http_scaleset_member_t))
        != NGX_OK)
    {
        goto failed;
    }

    epoch = 0;
    p = buf;
    last = buf + n;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (*p == '#') {
            e = ngx_strnstr(p, "epoch=", eol - p);
            if (e) {
                for (e += 6; e < eol && *e >= '0' && *e <= '9'; e++) {
                    epoch = epoch * 10 + (*e - '0');
                }
            }

        } else if (eol > p) {
            sp = ngx_strlchr(p, eol, ' ');

            if (sp == NULL) {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "scaleset: \"%V\": line without a record "
                              "skipped", &sscf->state_file);

            } else {
                rc = ngx_http_scaleset_add_member(sscf, &members, p, sp - p,
                                                  sp + 1, eol - sp - 1, 0,
                                                  log);
                if (rc == NGX_ERROR) {
                    goto failed;
                }
            }
        }

        p = eol + 1;
    }

    rc = ngx_http_scaleset_apply(sscf, &members, epoch,
                                 NGX_HTTP_SCALESET_SOURCE_STATE, log);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "scaleset: pool \"%V\": %ui members loaded from \"%V\" "
                  "(epoch %uL)", &sscf->pool, sscf->sh->members,
                  &sscf->state_file, epoch);

    ngx_destroy_pool(pool);

    return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}
