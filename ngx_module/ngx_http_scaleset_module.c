
/*
 * ngx_http_scaleset_module: upstream membership held in Redis, applied
 * live in every worker.  This file: directives, configuration, where a new
 * zone's members come from, process hooks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


static void *ngx_http_scaleset_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_scaleset_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_scaleset_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_scaleset_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_scaleset_redis_addr(ngx_conf_t *cf,
    ngx_str_t *value, ngx_http_scaleset_addr_t *addr);
static ngx_int_t ngx_http_scaleset_password_file(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *password);
static ngx_int_t ngx_http_scaleset_checks_have_pools(ngx_conf_t *cf);
static char *ngx_http_scaleset_gateway_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_scaleset_state_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_scaleset(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_scaleset_init_pool_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_scaleset_keys(ngx_conf_t *cf,
    ngx_http_scaleset_main_conf_t *smcf, ngx_http_scaleset_srv_conf_t *sscf);
static ngx_int_t ngx_http_scaleset_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_scaleset_init_process(ngx_cycle_t *cycle);
static void ngx_http_scaleset_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_scaleset_commands[] = {

    { ngx_string("scaleset_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_scaleset_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scaleset_gateway_id"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_scaleset_gateway_id,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scaleset_state_path"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_scaleset_state_path,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scaleset_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_scaleset_allow,
      0,
      0,
      NULL },

    { ngx_string("scaleset"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_scaleset,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scaleset_health_check"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_scaleset_health_check,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scaleset_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scaleset_status,
      0,
      0,
      NULL },

    { ngx_string("scaleset_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scaleset_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_scaleset_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_scaleset_create_main_conf,    /* create main configuration */
    ngx_http_scaleset_init_main_conf,      /* init main configuration */

    ngx_http_scaleset_create_srv_conf,     /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_scaleset_module = {
    NGX_MODULE_V1,
    &ngx_http_scaleset_module_ctx,         /* module context */
    ngx_http_scaleset_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_scaleset_init_module,         /* init module */
    ngx_http_scaleset_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_scaleset_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_scaleset_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_scaleset_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_scaleset_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->redis = { 0, NULL };
     *     smcf->password = { 0, NULL };
     *     smcf->gateway_id = { 0, NULL };
     *     smcf->state_path = NULL;
     *     smcf->shm_zone = NULL;
     */

    smcf->db = NGX_CONF_UNSET;
    smcf->timeout = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&smcf->pools, cf->pool, 4,
                       sizeof(ngx_http_scaleset_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


/* scaleset_health_check checks the members of a scaleset pool: refuse it
   in an upstream without "scaleset", where it would silently do nothing */
static ngx_int_t
ngx_http_scaleset_checks_have_pools(ngx_conf_t *cf)
{
    ngx_uint_t                       i;
    ngx_http_scaleset_srv_conf_t    *sscf;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        sscf = uscfp[i]->srv_conf[ngx_http_scaleset_module.ctx_index];

        if (sscf && (sscf->check || sscf->allow) && sscf->pool.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%s\" in upstream \"%V\" "
                          "without \"scaleset\" in %s:%ui",
                          sscf->check ? "scaleset_health_check"
                                      : "scaleset_allow",
                          &uscfp[i]->host, uscfp[i]->file_name,
                          uscfp[i]->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_http_scaleset_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_scaleset_main_conf_t *smcf = conf;

    u_char                         *p;
    ngx_str_t                       name;
    ngx_uint_t                      i, j;
    ngx_http_scaleset_srv_conf_t  **pools, *sscf;

    if (ngx_http_scaleset_checks_have_pools(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (smcf->gateway_id.len == 0) {
        smcf->gateway_id = cf->cycle->hostname;

        if (smcf->pools.nelts
            && !scaleset_name_valid((char *) smcf->gateway_id.data,
                                    smcf->gateway_id.len))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the host name \"%V\" is not a valid gateway "
                               "id ([A-Za-z0-9_.-]{1,63}): set "
                               "\"scaleset_gateway_id\"", &smcf->gateway_id);
            return NGX_CONF_ERROR;
        }
    }

    if (smcf->prefix.data == NULL) {
        ngx_str_set(&smcf->prefix, SCALESET_DEFAULT_PREFIX);
    }

    if (smcf->db == NGX_CONF_UNSET) {
        smcf->db = 0;
    }

    ngx_conf_init_msec_value(smcf->timeout, NGX_HTTP_SCALESET_REDIS_TIMEOUT);

    if (smcf->pools.nelts == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_http_scaleset_allow_init(cf, smcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (smcf->redis.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset\" is used but \"scaleset_redis\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        sscf = pools[i];

        for (j = 0; j < i; j++) {
            if (pools[j]->pool.len == sscf->pool.len
                && ngx_strncmp(pools[j]->pool.data, sscf->pool.data,
                               sscf->pool.len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"scaleset\" pool \"%V\" is used by "
                                   "upstreams \"%V\" and \"%V\"",
                                   &sscf->pool, &pools[j]->upstream,
                                   &sscf->upstream);
                return NGX_CONF_ERROR;
            }
        }

        if (ngx_http_scaleset_keys(cf, smcf, sscf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (sscf->allow == NULL) {
            sscf->allow = smcf->allow;
        }

        if (smcf->state_path) {
            sscf->state_file.len = smcf->state_path->name.len
                                   + 1 + sscf->pool.len + sizeof(".state") - 1;
            sscf->state_file.data = ngx_pnalloc(cf->pool,
                                                sscf->state_file.len + 1);
            if (sscf->state_file.data == NULL) {
                return NGX_CONF_ERROR;
            }

            p = ngx_sprintf(sscf->state_file.data, "%V/%V.state%Z",
                            &smcf->state_path->name, &sscf->pool);
        }
    }

    ngx_str_set(&name, "scaleset");

    smcf->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                           &ngx_http_scaleset_module);
    if (smcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    smcf->shm_zone->init = ngx_http_scaleset_init_main_zone;
    smcf->shm_zone->data = smcf;

    (void) p;

    return NGX_CONF_OK;
}


static void *
ngx_http_scaleset_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_scaleset_srv_conf_t  *sscf;

    sscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_scaleset_srv_conf_t));
    if (sscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     sscf->pool = { 0, NULL };
     *     sscf->shm_zone = NULL;
     *     sscf->sh = NULL;
     */

    sscf->balance = NGX_CONF_UNSET_UINT;
    sscf->max_members = NGX_CONF_UNSET_UINT;
    sscf->zone_size = NGX_CONF_UNSET_SIZE;
    sscf->resync = NGX_CONF_UNSET_MSEC;

    return sscf;
}


/*
 * scaleset_redis ADDRESS | sentinel=NAME ADDRESS... [username=] [password=]
 * [password_file=] [db=] [prefix=] [timeout=]
 */

static char *
ngx_http_scaleset_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scaleset_main_conf_t *smcf = conf;

    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_msec_t                 ms;
    ngx_http_scaleset_addr_t  *addr;

    if (smcf->redis.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    smcf->redis = value[1];

    i = 1;

    if (ngx_strncmp(value[1].data, "sentinel=", 9) == 0) {
        s.data = value[1].data + 9;
        s.len = value[1].len - 9;

        if (s.len == 0) {
            goto invalid_param;
        }

        smcf->sentinel = s;

        smcf->sentinels = ngx_array_create(cf->pool, 3,
                                           sizeof(ngx_http_scaleset_addr_t));
        if (smcf->sentinels == NULL) {
            return NGX_CONF_ERROR;
        }

        /* the sentinels: every argument up to the first parameter */

        for (i = 2; i < cf->args->nelts; i++) {
            if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
                != NULL)
            {
                break;
            }

            addr = ngx_array_push(smcf->sentinels);
            if (addr == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_scaleset_redis_addr(cf, &value[i], addr) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }

        if (smcf->sentinels->nelts == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"scaleset_redis %V\" needs the addresses of "
                               "the sentinels", &value[1]);
            return NGX_CONF_ERROR;
        }

    } else {
        if (ngx_http_scaleset_redis_addr(cf, &value[1], &smcf->master)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        i = 2;
    }

    for ( /* void */ ; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "username=", 9) == 0) {
            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            if (s.len == 0 || smcf->username.data) {
                goto invalid_param;
            }

            smcf->username = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            if (s.len == 0 || smcf->password.data) {
                goto invalid_param;
            }

            smcf->password = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.len = value[i].len - 14;
            s.data = value[i].data + 14;

            if (s.len == 0 || smcf->password.data) {
                goto invalid_param;
            }

            if (ngx_http_scaleset_password_file(cf, &s, &smcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            smcf->db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (smcf->db == NGX_ERROR || smcf->db > 65535) {
                goto invalid_param;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            s.len = value[i].len - 7;
            s.data = value[i].data + 7;

            if (!scaleset_prefix_valid((char *) s.data, s.len)) {
                goto invalid_param;
            }

            smcf->prefix = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms < 100) {
                goto invalid_param;
            }

            smcf->timeout = ms;
            continue;
        }

        goto invalid_param;
    }

    if (smcf->username.len && smcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset_redis\" username=%V needs password= "
                           "or password_file=", &smcf->username);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid_param:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"scaleset_redis\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* IPv4:PORT, [IPv6]:PORT or unix:/absolute/path; never a host name */

static ngx_int_t
ngx_http_scaleset_redis_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_scaleset_addr_t *addr)
{
    u_char      *p, *last, *colon;
    ngx_int_t    port;
    ngx_str_t    host;
    ngx_uint_t   i;
#if (NGX_HAVE_INET6)
    u_char       in6[16];
#endif

    addr->text = *value;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        if (value->data[5] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid unix socket path in "
                               "\"scaleset_redis %V\": must be absolute",
                               value);
            return NGX_ERROR;
        }

        /* cf->args are NUL-terminated */
        addr->host = value->data + 5;
        addr->port = 0;
        return NGX_OK;
    }

    p = value->data;
    last = p + value->len;

    colon = NULL;
    for (i = value->len; i > 0; i--) {
        if (p[i - 1] == ':') {
            colon = &p[i - 1];
            break;
        }
    }

    if (colon == NULL || colon + 1 == last) {
        goto invalid;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port < 1 || port > 65535) {
        goto invalid;
    }

    host.data = p;
    host.len = colon - p;

    if (host.len > 2 && host.data[0] == '[' && colon[-1] == ']') {
        host.data++;
        host.len -= 2;

#if (NGX_HAVE_INET6)
        if (ngx_inet6_addr(host.data, host.len, in6) != NGX_OK) {
            goto invalid;
        }
#else
        goto invalid;
#endif

    } else if (ngx_inet_addr(host.data, host.len) == INADDR_NONE) {
        goto invalid;
    }

    addr->host = ngx_pnalloc(cf->pool, host.len + 1);
    if (addr->host == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(addr->host, host.data, host.len + 1);
    addr->port = port;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid address \"%V\" in \"scaleset_redis\": "
                       "an IPv4 or [IPv6] literal with a port, "
                       "or unix:/path, is required", value);
    return NGX_ERROR;
}


/*
 * password_file=: the first line of the file, read when the configuration
 * is (by the master, like ssl_password_file), so it may be readable by
 * root only.
 */

static ngx_int_t
ngx_http_scaleset_password_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *password)
{
    u_char           *buf, *p, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_str_t         file;
    ngx_file_info_t   fi;

    file = *name;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file.data);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is not a regular file of at most 4096 "
                           "bytes", file.data);
        goto done;
    }

    buf = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, ngx_file_size(&fi));
    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", file.data);
        goto done;
    }

    last = buf + n;

    for (p = buf; p < last && *p != CR && *p != LF; p++) {
        /* void */
    }

    if (p == buf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" holds no password on its first line",
                           file.data);
        goto done;
    }

    *p = '\0';
    password->data = buf;
    password->len = p - buf;

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", file.data);
    }

    return rc;
}


static char *
ngx_http_scaleset_gateway_id(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scaleset_main_conf_t *smcf = conf;

    ngx_str_t  *value;

    if (smcf->gateway_id.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!scaleset_name_valid((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid gateway id \"%V\" in "
                           "\"scaleset_gateway_id\": [A-Za-z0-9_.-]{1,63} "
                           "is required", &value[1]);
        return NGX_CONF_ERROR;
    }

    smcf->gateway_id = value[1];

    return NGX_CONF_OK;
}


/* scaleset_state_path DIRECTORY [thread_pool=NAME] */

static char *
ngx_http_scaleset_state_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scaleset_main_conf_t *smcf = conf;

    ngx_str_t   *value, name;
    ngx_path_t  *path;

    if (smcf->state_path) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "thread_pool=", 12) != 0
            || value[2].len == 12)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"scaleset_state_path\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        name.data = value[2].data + 12;
        name.len = value[2].len - 12;

#if (NGX_THREADS)
        /* nginx refuses the name at its check unless it is declared */
        smcf->thread_pool = ngx_thread_pool_add(cf, &name);
        if (smcf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thread_pool=%V\" in \"scaleset_state_path\" "
                           "needs nginx built with threads", &name);
        return NGX_CONF_ERROR;
#endif
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = value[1];

    if (path->name.len > 1 && path->name.data[path->name.len - 1] == '/') {
        path->name.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &path->name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    /* created at start, owned by the worker user, like temp paths */
    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    smcf->state_path = path;

    return NGX_CONF_OK;
}


static char *
ngx_http_scaleset(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scaleset_srv_conf_t *sscf = conf;

    size_t                           size;
    ngx_int_t                        n;
    ngx_str_t                       *value, s;
    ngx_uint_t                       i;
    ngx_msec_t                       ms;
    ngx_http_upstream_server_t      *us;
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_scaleset_main_conf_t   *smcf;
    ngx_http_scaleset_srv_conf_t   **pp;

    if (sscf->pool.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_scaleset_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset\" conflicts with the load balancing "
                           "method already set in upstream \"%V\"",
                           &uscf->host);
        return NGX_CONF_ERROR;
    }

    if (!scaleset_name_valid((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pool name \"%V\" in \"scaleset\": "
                           "[A-Za-z0-9_.-]{1,63} is required", &value[1]);
        return NGX_CONF_ERROR;
    }

    sscf->pool = value[1];
    sscf->upstream = uscf->host;
    sscf->main = smcf;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            size = ngx_parse_size(&s);
            if (size == (size_t) NGX_ERROR || size == 0) {
                goto invalid;
            }

            sscf->zone_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_members=", 12) == 0) {
            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                goto invalid;
            }

            sscf->max_members = n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "balance=round_robin") == 0) {
            sscf->balance = NGX_HTTP_SCALESET_BALANCE_RR;
            continue;
        }

        if (ngx_strcmp(value[i].data, "balance=least_conn") == 0) {
            sscf->balance = NGX_HTTP_SCALESET_BALANCE_LEAST_CONN;
            continue;
        }

        if (ngx_strncmp(value[i].data, "resync=", 7) == 0) {
            s.len = value[i].len - 7;
            s.data = value[i].data + 7;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms < 100) {
                goto invalid;
            }

            sscf->resync = ms;
            continue;
        }

        goto invalid;
    }

    ngx_conf_init_uint_value(sscf->balance, NGX_HTTP_SCALESET_BALANCE_RR);
    ngx_conf_init_uint_value(sscf->max_members,
                             NGX_HTTP_SCALESET_DEFAULT_MAX_MEMBERS);
    ngx_conf_init_msec_value(sscf->resync, NGX_HTTP_SCALESET_DEFAULT_RESYNC);

    size = ngx_http_scaleset_zone_size(sscf->max_members);

    if (sscf->zone_size == NGX_CONF_UNSET_SIZE) {
        sscf->zone_size = size;

    } else if (sscf->zone_size < size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset\" zone=%uz is too small for "
                           "max_members=%ui: at least %uz bytes are needed",
                           sscf->zone_size, sscf->max_members, size);
        return NGX_CONF_ERROR;
    }

    s.len = sizeof("scaleset_") - 1 + sscf->pool.len;
    s.data = ngx_pnalloc(cf->pool, s.len);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(s.data, "scaleset_%V", &sscf->pool);

    sscf->shm_zone = ngx_shared_memory_add(cf, &s, sscf->zone_size,
                                           &ngx_http_scaleset_module);
    if (sscf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (sscf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset\" pool \"%V\" is used twice",
                           &sscf->pool);
        return NGX_CONF_ERROR;
    }

    sscf->shm_zone->init = ngx_http_scaleset_init_pool_zone;
    sscf->shm_zone->data = sscf;

    pp = ngx_array_push(&smcf->pools);
    if (pp == NULL) {
        return NGX_CONF_ERROR;
    }

    *pp = sscf;

    if (uscf->servers == NULL || uscf->servers->nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset\" cannot be used with \"server\" "
                           "lines in upstream \"%V\"", &uscf->host);
        return NGX_CONF_ERROR;
    }

    /* a placeholder: the upstream block refuses to end without servers */

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));
    us->name = sscf->pool;
    sscf->placeholder = us;

    uscf->peer.init_upstream = ngx_http_scaleset_init_upstream;

    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_FAILS
                  |NGX_HTTP_UPSTREAM_FAIL_TIMEOUT
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"scaleset\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * A pool's zone at start or reload: kept with its members, or new; a new
 * one starts from the last known membership: the previous cycle's zone of
 * the pool (recreated with another size), else its state file.
 */

static ngx_int_t
ngx_http_scaleset_init_pool_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                      rc;
    ngx_http_scaleset_srv_conf_t  *sscf;

    rc = ngx_http_scaleset_init_zone(shm_zone, data);
    if (rc != NGX_DONE) {
        return rc;
    }

    sscf = shm_zone->data;

    if (ngx_http_scaleset_inherit(sscf, shm_zone->shm.log) == NGX_OK) {
        return NGX_OK;
    }

    if (sscf->state_file.len) {
        (void) ngx_http_scaleset_state_load(sscf, shm_zone->shm.log);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_keys(ngx_conf_t *cf, ngx_http_scaleset_main_conf_t *smcf,
    ngx_http_scaleset_srv_conf_t *sscf)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_str_t   s;
    ngx_uint_t  i;

    /* keys of the Redis contract */

    for (i = 0; i < 3; i++) {
        p = ngx_pnalloc(cf->pool, SCALESET_KEY_MAX);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = ngx_pnalloc(cf->pool, sscf->pool.len + 1);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(s.data, sscf->pool.data, sscf->pool.len + 1);

        n = scaleset_key((char *) p, SCALESET_KEY_MAX,
                         smcf->prefix.data ? (char *) smcf->prefix.data
                                           : SCALESET_DEFAULT_PREFIX,
                         (char *) s.data,
                         i == 0 ? SCALESET_KEY_MEMBERS
                                : (i == 1 ? SCALESET_KEY_EPOCH
                                          : SCALESET_KEY_EVENTS),
                         NULL);
        if (n < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"scaleset\": cannot build the keys of "
                               "pool \"%V\"", &sscf->pool);
            return NGX_ERROR;
        }

        if (i == 0) {
            sscf->key_members.data = p;
            sscf->key_members.len = n;

        } else if (i == 1) {
            sscf->key_epoch.data = p;
            sscf->key_epoch.len = n;

        } else {
            sscf->key_events.data = p;
            sscf->key_events.len = n;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_init_module(ngx_cycle_t *cycle)
{
    /* the zones of this cycle are set up: the next reload may inherit */
    ngx_http_scaleset_prev = ngx_http_cycle_get_module_main_conf(cycle,
                                                   ngx_http_scaleset_module);
    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_init_process(ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    ngx_http_scaleset_main_conf_t  *smcf;

    static ngx_str_t  name = ngx_string("default");

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_scaleset_module);

    /*
     * Threads make every system call of a worker a little dearer (glibc's
     * cancellation points), so the state file takes no pool of its own:
     * it uses the one named, or nginx's default pool when the
     * configuration has it anyway (thread_pool default, aio threads).
     */

    if (smcf && smcf->state_path && smcf->thread_pool == NULL) {
        smcf->thread_pool = ngx_thread_pool_get(cycle, &name);
    }
#endif

    if (ngx_http_scaleset_balancer_init_process(cycle) != NGX_OK
        || ngx_http_scaleset_check_init_process(cycle) != NGX_OK
        || ngx_http_scaleset_report_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_scaleset_redis_init_process(cycle);
}


static void
ngx_http_scaleset_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_scaleset_redis_exit_process(cycle);
}
