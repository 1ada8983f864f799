
/*
 * ngx_http_scaleset_module: which addresses may be members.  Whoever can
 * write the members hash chooses where nginx connects, so a member's
 * address must fall in scaleset_allow (http or upstream level): CIDRs and
 * unix: path prefixes.  Without it any IP is allowed but the link-local
 * ranges (cloud metadata services live there), 0.0.0.0/8 and ::, and no
 * unix socket.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


static ngx_int_t ngx_http_scaleset_unix_allowed(ngx_array_t *prefixes,
    struct sockaddr *sa, socklen_t socklen);


/* ranges no member may use unless scaleset_allow names them */
static char  *ngx_http_scaleset_denied[] = {
    "0.0.0.0/8",
    "169.254.0.0/16",
#if (NGX_HAVE_INET6)
    "::/128",
    "fe80::/10",
#endif
    NULL
};


/* scaleset_allow CIDR|unix:PREFIX ...; lines of one level add up */

char *
ngx_http_scaleset_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                       rc;
    ngx_str_t                      *value, *prefix, s;
    ngx_uint_t                      i;
    ngx_cidr_t                     *cidr;
    ngx_http_scaleset_allow_t     **allow, *a;
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_http_scaleset_main_conf_t  *smcf;

    if (cf->cmd_type == NGX_HTTP_UPS_CONF) {
        sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_scaleset_module);
        allow = &sscf->allow;

    } else {
        smcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_scaleset_module);
        allow = &smcf->allow;
    }

    a = *allow;

    if (a == NULL) {
        a = ngx_pcalloc(cf->pool, sizeof(ngx_http_scaleset_allow_t));
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        a->cidrs = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        a->paths = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        if (a->cidrs == NULL || a->paths == NULL) {
            return NGX_CONF_ERROR;
        }

        *allow = a;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "unix:", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0 || s.data[0] != '/') {
                goto invalid;
            }

            prefix = ngx_array_push(a->paths);
            if (prefix == NULL) {
                return NGX_CONF_ERROR;
            }

            *prefix = s;
            continue;
        }

        cidr = ngx_array_push(a->cidrs);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            goto invalid;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"scaleset_allow\": "
                       "a CIDR or unix:/PREFIX is required", &value[i]);
    return NGX_CONF_ERROR;
}


/* the built-in list, for a configuration without scaleset_allow */

ngx_int_t
ngx_http_scaleset_allow_init(ngx_conf_t *cf,
    ngx_http_scaleset_main_conf_t *smcf)
{
    ngx_str_t    s;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    smcf->denied = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
    if (smcf->denied == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; ngx_http_scaleset_denied[i]; i++) {
        cidr = ngx_array_push(smcf->denied);
        if (cidr == NULL) {
            return NGX_ERROR;
        }

        s.data = (u_char *) ngx_http_scaleset_denied[i];
        s.len = ngx_strlen(s.data);

        if (ngx_ptocidr(&s, cidr) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* 1 when a pool may have a member at this address */

ngx_uint_t
ngx_http_scaleset_allowed(ngx_http_scaleset_srv_conf_t *sscf,
    struct sockaddr *sa, socklen_t socklen)
{
    ngx_http_scaleset_allow_t  *a;

    a = sscf->allow;

    if (sa->sa_family == AF_UNIX) {
        if (a == NULL || a->paths->nelts == 0) {
            return 0;
        }

        return ngx_http_scaleset_unix_allowed(a->paths, sa, socklen) == NGX_OK;
    }

    if (a == NULL) {
        return ngx_cidr_match(sa, sscf->main->denied) != NGX_OK;
    }

    return ngx_cidr_match(sa, a->cidrs) == NGX_OK;
}


/*
 * A path under one of the prefixes, taken as written: a path with a ".."
 * component is refused, as it could leave the prefix.
 */

static ngx_int_t
ngx_http_scaleset_unix_allowed(ngx_array_t *prefixes, struct sockaddr *sa,
    socklen_t socklen)
{
#if (NGX_HAVE_UNIX_DOMAIN)
    u_char              *path, *p, *last;
    size_t               len;
    ngx_str_t           *prefix;
    ngx_uint_t           i;
    struct sockaddr_un  *saun;

    saun = (struct sockaddr_un *) sa;
    path = (u_char *) saun->sun_path;

    if (socklen <= offsetof(struct sockaddr_un, sun_path)) {
        return NGX_DECLINED;
    }

    len = ngx_strnlen(path, socklen - offsetof(struct sockaddr_un, sun_path));
    last = path + len;

    for (p = path; p + 2 <= last; p++) {
        if (p[0] == '.' && p[1] == '.' && (p == path || p[-1] == '/')
            && (p + 2 == last || p[2] == '/'))
        {
            return NGX_DECLINED;
        }
    }

    prefix = prefixes->elts;

    for (i = 0; i < prefixes->nelts; i++) {
        if (len >= prefix[i].len
            && ngx_strncmp(path, prefix[i].data, prefix[i].len) == 0)
        {
            return NGX_OK;
        }
    }
#endif

    return NGX_DECLINED;
}
