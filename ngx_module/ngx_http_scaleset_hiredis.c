
/*
 * ngx_http_scaleset_module: a hiredis async context driven by nginx's
 * event loop (the shape of hiredis's adapters/libevent.h).  The socket
 * gets an ngx_connection_t with level-triggered events (hiredis reads
 * once per call) and hiredis keeps owning the descriptor.
 *
 * What Redis sends is input like any other: a reply array is refused
 * beyond a number of elements, a string beyond a length, and a reply
 * element still incomplete beyond a buffer size (hiredis 0.14 would
 * buffer and build anything).  A refusal is a protocol error that drops
 * the connection.  The adapter also keeps when a reply last arrived, so
 * the caller can tell a server that stopped answering.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_scaleset.h"


/* longest string in any reply we read: ids and records are far shorter */
#define NGX_HTTP_SCALESET_REDIS_MAX_STRING   16384
/* bytes buffered and not yet parsed into a complete element */
#define NGX_HTTP_SCALESET_REDIS_MAX_PENDING  (128 * 1024)


typedef struct {
    ngx_connection_t               *c;
    ngx_msec_t                      progress;   /* last read, or wait start */
    unsigned                        waiting:1;
} ngx_http_scaleset_hiredis_t;


static void ngx_http_scaleset_ev_read(ngx_event_t *ev);
static void ngx_http_scaleset_ev_write(ngx_event_t *ev);
static void ngx_http_scaleset_hiredis_event(ngx_event_t *ev,
    ngx_int_t event, ngx_uint_t on);
static void ngx_http_scaleset_hiredis_add_read(void *privdata);
static void ngx_http_scaleset_hiredis_del_read(void *privdata);
static void ngx_http_scaleset_hiredis_add_write(void *privdata);
static void ngx_http_scaleset_hiredis_del_write(void *privdata);
static void ngx_http_scaleset_hiredis_cleanup(void *privdata);
static void *ngx_http_scaleset_hiredis_array(const redisReadTask *task,
    int elements);
static void *ngx_http_scaleset_hiredis_string(const redisReadTask *task,
    char *str, size_t len);


/* the reply functions of hiredis, and ours around them */
static redisReplyObjectFunctions  *ngx_http_scaleset_hiredis_default;
static redisReplyObjectFunctions   ngx_http_scaleset_hiredis_functions;

/* the largest array a reply may hold (set per cycle), and what was refused */
static ngx_uint_t   ngx_http_scaleset_hiredis_max_elements = 1024;
static const char  *ngx_http_scaleset_hiredis_refused;


void
ngx_http_scaleset_hiredis_limit(ngx_uint_t max_elements)
{
    ngx_http_scaleset_hiredis_max_elements = max_elements;
}


ngx_int_t
ngx_http_scaleset_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t             *c;
    ngx_http_scaleset_hiredis_t  *h;

    if (ac->ev.data != NULL) {
        return NGX_ERROR;
    }

    h = ngx_calloc(sizeof(ngx_http_scaleset_hiredis_t), log);
    if (h == NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        ngx_free(h);
        return NGX_ERROR;
    }

    h->c = c;
    h->progress = ngx_current_msec;

    c->data = ac;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_http_scaleset_ev_read;
    c->write->handler = ngx_http_scaleset_ev_write;

    /* closed at graceful shutdown, like an idle keepalive connection */
    c->idle = 1;

    ac->ev.data = h;
    ac->ev.addRead = ngx_http_scaleset_hiredis_add_read;
    ac->ev.delRead = ngx_http_scaleset_hiredis_del_read;
    ac->ev.addWrite = ngx_http_scaleset_hiredis_add_write;
    ac->ev.delWrite = ngx_http_scaleset_hiredis_del_write;
    ac->ev.cleanup = ngx_http_scaleset_hiredis_cleanup;

    /* replies are built through our bounds */

    if (ngx_http_scaleset_hiredis_default == NULL) {
        ngx_http_scaleset_hiredis_default = ac->c.reader->fn;
        ngx_http_scaleset_hiredis_functions = *ac->c.reader->fn;
        ngx_http_scaleset_hiredis_functions.createArray =
                                              ngx_http_scaleset_hiredis_array;
        ngx_http_scaleset_hiredis_functions.createString =
                                              ngx_http_scaleset_hiredis_string;
    }

    ac->c.reader->fn = &ngx_http_scaleset_hiredis_functions;

    ngx_http_scaleset_hiredis_add_read(h);
    ngx_http_scaleset_hiredis_add_write(h);

    return NGX_OK;
}


/*
 * 1 when the context has waited longer than timeout for a reply: replies
 * are due and nothing arrived since the wait began (seen by the caller's
 * periodic look, so within its period).
 */

ngx_uint_t
ngx_http_scaleset_hiredis_stalled(redisAsyncContext *ac, ngx_msec_t timeout)
{
    ngx_http_scaleset_hiredis_t  *h;

    h = ac->ev.data;

    if (h == NULL) {
        return 0;
    }

    if (ac->replies.head == NULL) {
        h->waiting = 0;
        return 0;
    }

    if (!h->waiting) {
        h->waiting = 1;
        h->progress = ngx_current_msec;
        return 0;
    }

    return ngx_current_msec - h->progress > timeout;
}


/* why the last connection was dropped by a bound, once, or NULL */

const char *
ngx_http_scaleset_hiredis_refusal(void)
{
    const char  *why;

    why = ngx_http_scaleset_hiredis_refused;
    ngx_http_scaleset_hiredis_refused = NULL;

    return why;
}


static void *
ngx_http_scaleset_hiredis_array(const redisReadTask *task, int elements)
{
    if (elements < 0
        || (ngx_uint_t) elements > ngx_http_scaleset_hiredis_max_elements)
    {
        /* hiredis takes NULL as out of memory and drops the connection */
        ngx_http_scaleset_hiredis_refused = "a reply array too long";
        return NULL;
    }

    return ngx_http_scaleset_hiredis_default->createArray(task, elements);
}


static void *
ngx_http_scaleset_hiredis_string(const redisReadTask *task, char *str,
    size_t len)
{
    if (len > NGX_HTTP_SCALESET_REDIS_MAX_STRING) {
        ngx_http_scaleset_hiredis_refused = "a reply string too long";
        return NULL;
    }

    return ngx_http_scaleset_hiredis_default->createString(task, str, len);
}


static void
ngx_http_scaleset_ev_read(ngx_event_t *ev)
{
    ngx_connection_t             *c = ev->data;
    redisAsyncContext            *ac = c->data;
    ngx_http_scaleset_hiredis_t  *h;

    if (c->close) {
        /* graceful shutdown */
        ngx_http_scaleset_redis_shutdown();
        return;
    }

    h = ac->ev.data;
    h->progress = ngx_current_msec;

    if (ac->c.reader->len - ac->c.reader->pos
        > NGX_HTTP_SCALESET_REDIS_MAX_PENDING)
    {
        /* an element this large is no reply of ours */
        ngx_http_scaleset_hiredis_refused = "a reply element too large";
        ac->c.err = REDIS_ERR_PROTOCOL;
        ngx_cpystrn((u_char *) ac->c.errstr,
                    (u_char *) "reply element too large",
                    sizeof(ac->c.errstr));
        ac->err = ac->c.err;
        ac->errstr = ac->c.errstr;
        redisAsyncFree(ac);
        return;
    }

    redisAsyncHandleRead(ac);
}


static void
ngx_http_scaleset_ev_write(ngx_event_t *ev)
{
    ngx_connection_t   *c = ev->data;
    redisAsyncContext  *ac = c->data;

    redisAsyncHandleWrite(ac);
}


/* hiredis asks for a read or write interest to be added or removed */

static void
ngx_http_scaleset_hiredis_event(ngx_event_t *ev, ngx_int_t event,
    ngx_uint_t on)
{
    if (on && !ev->active) {
        (void) ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


static void
ngx_http_scaleset_hiredis_add_read(void *privdata)
{
    ngx_http_scaleset_hiredis_t *h = privdata;

    ngx_http_scaleset_hiredis_event(h->c->read, NGX_READ_EVENT, 1);
}


static void
ngx_http_scaleset_hiredis_del_read(void *privdata)
{
    ngx_http_scaleset_hiredis_t *h = privdata;

    ngx_http_scaleset_hiredis_event(h->c->read, NGX_READ_EVENT, 0);
}


static void
ngx_http_scaleset_hiredis_add_write(void *privdata)
{
    ngx_http_scaleset_hiredis_t *h = privdata;

    ngx_http_scaleset_hiredis_event(h->c->write, NGX_WRITE_EVENT, 1);
}


static void
ngx_http_scaleset_hiredis_del_write(void *privdata)
{
    ngx_http_scaleset_hiredis_t *h = privdata;

    ngx_http_scaleset_hiredis_event(h->c->write, NGX_WRITE_EVENT, 0);
}


static void
ngx_http_scaleset_hiredis_cleanup(void *privdata)
{
    ngx_http_scaleset_hiredis_t *h = privdata;

    ngx_connection_t  *c;

    c = h->c;

    ngx_http_scaleset_hiredis_del_read(h);
    ngx_http_scaleset_hiredis_del_write(h);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* hiredis closes the descriptor itself */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ngx_free(h);
}
