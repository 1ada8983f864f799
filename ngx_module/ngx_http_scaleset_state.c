
/*
 * ngx_http_scaleset_module: the state file, one per pool: the last known
 * membership, written by the lease holder after each applied change
 * (temp file + rename) and loaded when a pool's zone is created, so nginx
 * serves the last known members while Redis is unreachable.
 *
 *     # scaleset pool=web epoch=7
 *     web-000001 127.0.0.1:8081 weight=2 zone=z1
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


ngx_int_t
ngx_http_scaleset_state_write(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log)
{
    u_char                     *buf, *p, *last, *tmp;
    size_t                      size;
    ssize_t                     n;
    ngx_fd_t                    fd;
    ngx_uint_t                  i, count;
    ngx_err_t                   err;
    scaleset_error_t            serr;
    scaleset_member_t           m;
    u_char                      addr[NGX_SOCKADDR_STRLEN];
    ngx_http_scaleset_slot_t   *slot;
    ngx_http_scaleset_shctx_t  *sh;

    if (sscf->state_file.len == 0) {
        return NGX_DECLINED;
    }

    sh = sscf->sh;

    size = 128 + sh->max_members * (SCALESET_ID_MAX + 2 + SCALESET_RECORD_MAX);

    buf = ngx_alloc(size + sscf->state_file.len + sizeof(".tmp"), log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    tmp = buf + size;
    ngx_sprintf(tmp, "%V.tmp%Z", &sscf->state_file);

    p = buf;
    last = buf + size;

    /* the lease holder is the only writer of slots: no lock needed */

    p = ngx_slprintf(p, last, "# scaleset pool=%V epoch=%uL\n",
                     &sscf->pool, sh->epoch);

    count = 0;

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
            ngx_free(buf);
            return NGX_ERROR;
        }

        p += n;
        *p++ = '\n';
        count++;
    }

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    n = write(fd, buf, p - buf);
    err = ngx_errno;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", tmp);
    }

    if (n != p - buf) {
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "scaleset: writing \"%s\" failed", tmp);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    if (ngx_rename_file(tmp, sscf->state_file.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      tmp, &sscf->state_file);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "scaleset state: \"%V\" written, %ui members, epoch %uL",
                   &sscf->state_file, count, sh->epoch);

    ngx_free(buf);

    return NGX_OK;
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

    fd = ngx_open_file(sscf->state_file.data, NGX_FILE_RDONLY,
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
        goto failed;
    }

    buf = ngx_pnalloc(pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = read(fd, buf, ngx_file_size(&fi));
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
