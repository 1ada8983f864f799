
/*
 * ngx_http_scaleset_module: the balancer.  A request takes the next entry
 * of the pool's precomputed smooth weighted round robin schedule (one
 * shared cursor, so all workers together follow nginx's order), or with
 * least_conn the member with the fewest active requests per weight, ties
 * going to the schedule's order from the cursor.
 *
 * Requests take no lock.  A request counts itself in its member's slot
 * (active) and then checks that the slot still holds the member it chose
 * (the slot's generation, a seqlock: see ngx_http_scaleset_slot_t); the
 * lease holder gives a slot to another member only once nothing is counted
 * in it, unless the pool has no other room, and free_peer counts only into
 * the member it chose.
 *
 * nginx connects to and logs the member's address as this worker keeps it
 * (ngx_http_scaleset_peer_t): copied from the slot and printed once per
 * member and worker, kept until the last request that used it ends, so a
 * member removed mid-request is harmless and nothing is formatted or
 * copied per request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


/*
 * A member's address in this worker: what pc->sockaddr and pc->name point
 * to.  It is peers[slot] while the slot holds the member (generation);
 * after that it lives on until the last request using it ends.
 */
struct ngx_http_scaleset_peer_s {
    ngx_str_t                       name;
    ngx_atomic_uint_t               generation;
    ngx_uint_t                      slot;
    ngx_uint_t                      refs;          /* requests using it */
    socklen_t                       socklen;
    ngx_sockaddr_t                  sockaddr;
    u_char                          text[NGX_SOCKADDR_STRLEN];
};


/* a request retries this often when the slots it chose are rewritten */
#define NGX_HTTP_SCALESET_RACES  8

/* members a pick passes over, primaries and backups */
#define NGX_HTTP_SCALESET_SKIP_PRIMARY                                       \
    (SCALESET_MEMBER_DOWN|SCALESET_MEMBER_DRAIN|SCALESET_MEMBER_BACKUP)
#define NGX_HTTP_SCALESET_SKIP_BACKUP                                        \
    (SCALESET_MEMBER_DOWN|SCALESET_MEMBER_DRAIN)


typedef struct ngx_http_scaleset_ref_s  ngx_http_scaleset_ref_t;

/* the address of a retry (the first try's is in the peer data) */
struct ngx_http_scaleset_ref_s {
    ngx_http_scaleset_peer_t       *peer;
    ngx_http_scaleset_ref_t        *next;
};


typedef struct {
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_http_scaleset_shctx_t      *sh;

    ngx_uint_t                      slot;          /* current, or -1 */
    ngx_atomic_uint_t               generation;

    ngx_uint_t                      first;         /* first tried slot */
    uintptr_t                      *tried;         /* bitmap, on retry */

    ngx_http_scaleset_peer_t       *peer;          /* of the first try */
    ngx_http_scaleset_ref_t        *retries;

    /* gives the addresses back when the request ends */
    ngx_pool_cleanup_t              cleanup;

    ngx_pool_t                     *pool;
    ngx_http_request_t             *request;
} ngx_http_scaleset_peer_data_t;


static ngx_int_t ngx_http_scaleset_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_scaleset_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_scaleset_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_int_t ngx_http_scaleset_pick(ngx_http_scaleset_peer_data_t *sp,
    uint32_t *sched, ngx_uint_t len, uint32_t skip, ngx_uint_t least_conn);
static ngx_uint_t ngx_http_scaleset_usable(ngx_http_scaleset_peer_data_t *sp,
    ngx_http_scaleset_slot_t *slot, ngx_uint_t i, uint32_t skip,
    ngx_msec_t now);
static ngx_int_t ngx_http_scaleset_peer_make(ngx_http_scaleset_peer_data_t *sp,
    ngx_http_scaleset_slot_t *slot, ngx_log_t *log);
static void ngx_http_scaleset_store(ngx_atomic_t *p, ngx_atomic_uint_t v);
static void ngx_http_scaleset_peer_release(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_peer_t *peer);
static void ngx_http_scaleset_cleanup(void *data);

#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_scaleset_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_scaleset_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


ngx_int_t
ngx_http_scaleset_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_scaleset_srv_conf_t  *sscf;

    sscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_scaleset_module);

    if (us->servers->nelts != 1
        || us->servers->elts != (void *) sscf->placeholder)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" in %s:%ui has both \"scaleset\" and "
                      "\"server\" lines", &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (us->shm_zone) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" in %s:%ui has both \"scaleset\" and "
                      "\"zone\"", &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    us->peer.init = ngx_http_scaleset_init_peer;

    return NGX_OK;
}


/* the worker's peers, one entry per slot of each pool */

ngx_int_t
ngx_http_scaleset_balancer_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i;
    ngx_http_scaleset_srv_conf_t   **pools, *sscf;
    ngx_http_scaleset_main_conf_t   *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_scaleset_module);
    if (smcf == NULL) {
        return NGX_OK;
    }

    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        sscf = pools[i];

        if (sscf->sh == NULL) {
            continue;
        }

        sscf->peers = ngx_pcalloc(cycle->pool,
                                  sscf->sh->max_members
                                  * sizeof(ngx_http_scaleset_peer_t *));
        if (sscf->peers == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_http_scaleset_peer_data_t  *sp;

    sscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_scaleset_module);

    sp = ngx_palloc(r->pool, sizeof(ngx_http_scaleset_peer_data_t));
    if (sp == NULL) {
        return NGX_ERROR;
    }

    sp->sscf = sscf;
    sp->sh = sscf->sh;
    sp->slot = NGX_CONF_UNSET_UINT;
    sp->generation = 0;
    sp->first = NGX_CONF_UNSET_UINT;
    sp->tried = NULL;
    sp->peer = NULL;
    sp->retries = NULL;
    sp->pool = r->pool;
    sp->request = r;

    r->upstream->peer.data = sp;
    r->upstream->peer.get = ngx_http_scaleset_get_peer;
    r->upstream->peer.free = ngx_http_scaleset_free_peer;

    /* racy read: only bounds the retries */
    r->upstream->peer.tries = ngx_max(sp->sh->primaries + sp->sh->backups, 1);

#if (NGX_HTTP_SSL)
    r->upstream->peer.set_session = ngx_http_scaleset_set_session;
    r->upstream->peer.save_session = ngx_http_scaleset_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_scaleset_peer_data_t *sp = data;

    ngx_int_t                      rc;
    ngx_uint_t                     least_conn, n, np, nb, i, k;
    ngx_atomic_uint_t              f;
    ngx_pool_cleanup_t            *cln;
    ngx_http_scaleset_ref_t       *ref;
    ngx_http_scaleset_peer_t      *peer;
    ngx_http_scaleset_slot_t      *slot;
    ngx_http_scaleset_shctx_t     *sh;
    ngx_http_scaleset_schedule_t  *sched;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "scaleset get peer, try: %ui", pc->tries);

    sh = sp->sh;

    pc->cached = 0;
    pc->connection = NULL;
    pc->name = &sp->sscf->upstream;

    ref = NULL;

    if (sp->first != NGX_CONF_UNSET_UINT) {
        /* a retry: from now on remember what was tried */

        if (sp->tried == NULL) {
            n = (sh->max_members + 8 * sizeof(uintptr_t) - 1)
                / (8 * sizeof(uintptr_t));

            sp->tried = ngx_pcalloc(sp->pool, n * sizeof(uintptr_t));
            if (sp->tried == NULL) {
                return NGX_ERROR;
            }

            sp->tried[sp->first / (8 * sizeof(uintptr_t))]
                |= (uintptr_t) 1 << sp->first % (8 * sizeof(uintptr_t));
        }

        ref = ngx_palloc(sp->pool, sizeof(ngx_http_scaleset_ref_t));
        if (ref == NULL) {
            return NGX_ERROR;
        }
    }

    least_conn = (sp->sscf->balance == NGX_HTTP_SCALESET_BALANCE_LEAST_CONN);

    sched = &sh->sched[sh->current];
    np = sched->nprimary;
    nb = sched->nbackup;

    if (np + nb > sh->sched_cap) {
        /* a schedule being rebuilt under a slow reader */
        np = ngx_min(np, sh->sched_cap);
        nb = sh->sched_cap - np;
    }

    rc = NGX_BUSY;

    for (k = 0; k < NGX_HTTP_SCALESET_RACES; k++) {

        rc = ngx_http_scaleset_pick(sp, sched->entries, np,
                                    NGX_HTTP_SCALESET_SKIP_PRIMARY,
                                    least_conn);

        if (rc == NGX_BUSY && nb) {
            rc = ngx_http_scaleset_pick(sp, sched->entries + np, nb,
                                        NGX_HTTP_SCALESET_SKIP_BACKUP,
                                        least_conn);
        }

        if (rc != NGX_OK) {
            break;
        }

        /* counted first, then checked: see the slot's comment */

        slot = &sh->slots[sp->slot];

        (void) ngx_atomic_fetch_add(&slot->active, 1);

        if (slot->generation == sp->generation
            && (sp->generation & 1) == 0
            && slot->in_use)
        {
            peer = sp->sscf->peers[sp->slot];

            if (peer && peer->generation == sp->generation) {
                goto found;
            }

            rc = ngx_http_scaleset_peer_make(sp, slot, pc->log);

            if (rc == NGX_OK) {
                peer = sp->sscf->peers[sp->slot];
                goto found;
            }

        } else {
            rc = NGX_BUSY;
        }

        /* the member left or moved meanwhile: another pick */

        (void) ngx_atomic_fetch_add(&slot->active, (ngx_atomic_int_t) -1);
        sp->slot = NGX_CONF_UNSET_UINT;

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    sp->slot = NGX_CONF_UNSET_UINT;

    if (sp->tried == NULL) {
        /* all failed: mark them live for a quick recovery, as nginx */
        for (i = 0; i < np + nb; i++) {
            slot = &sh->slots[sched->entries[i]];
            f = slot->fails;

            if (f) {
                (void) ngx_atomic_cmp_set(&slot->fails, f, 0);
            }
        }
    }

    ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                  "scaleset: no member of pool \"%V\" can serve "
                  "(%ui members)", &sp->sscf->pool, sh->members);

    return NGX_BUSY;

found:

    (void) ngx_atomic_fetch_add(&slot->requests, 1);

    /* the address is the request's until it ends */

    peer->refs++;

    if (ref == NULL) {
        sp->peer = peer;

        cln = &sp->cleanup;
        cln->handler = ngx_http_scaleset_cleanup;
        cln->data = sp;
        cln->next = sp->pool->cleanup;
        sp->pool->cleanup = cln;

    } else {
        ref->peer = peer;
        ref->next = sp->retries;
        sp->retries = ref;
    }

    pc->sockaddr = &peer->sockaddr.sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    if (sp->first == NGX_CONF_UNSET_UINT) {
        sp->first = sp->slot;
    }

    if (sp->tried) {
        sp->tried[sp->slot / (8 * sizeof(uintptr_t))]
            |= (uintptr_t) 1 << sp->slot % (8 * sizeof(uintptr_t));
    }

    return NGX_OK;
}


/*
 * The member in the slot (sp->generation) is new to this worker: its
 * address, copied while the slot cannot change under a count (or seen to
 * have changed) and printed once.  The address it replaces is freed now if
 * no request uses it, else by the last one.  NGX_DECLINED: the slot was
 * rewritten meanwhile.
 */

static ngx_int_t
ngx_http_scaleset_peer_make(ngx_http_scaleset_peer_data_t *sp,
    ngx_http_scaleset_slot_t *slot, ngx_log_t *log)
{
    socklen_t                  socklen;
    ngx_http_scaleset_peer_t  *peer, *old;

    peer = ngx_alloc(sizeof(ngx_http_scaleset_peer_t), log);
    if (peer == NULL) {
        return NGX_ERROR;
    }

    socklen = slot->socklen;

    if (socklen > sizeof(ngx_sockaddr_t)) {
        socklen = sizeof(ngx_sockaddr_t);
    }

    ngx_memcpy(&peer->sockaddr, &slot->sockaddr, socklen);

    ngx_memory_barrier();

    if (slot->generation != sp->generation) {
        ngx_free(peer);
        return NGX_DECLINED;
    }

    peer->generation = sp->generation;
    peer->slot = sp->slot;
    peer->refs = 0;
    peer->socklen = socklen;

    peer->name.data = peer->text;
    peer->name.len = ngx_sock_ntop(&peer->sockaddr.sockaddr, socklen,
                                   peer->text, NGX_SOCKADDR_STRLEN, 1);

    old = sp->sscf->peers[sp->slot];
    sp->sscf->peers[sp->slot] = peer;

    if (old && old->refs == 0) {
        ngx_free(old);
    }

    return NGX_OK;
}


/* the request ends: its addresses are given back */

static void
ngx_http_scaleset_cleanup(void *data)
{
    ngx_http_scaleset_peer_data_t *sp = data;

    ngx_http_scaleset_ref_t  *ref;

    ngx_http_scaleset_peer_release(sp->sscf, sp->peer);

    for (ref = sp->retries; ref; ref = ref->next) {
        ngx_http_scaleset_peer_release(sp->sscf, ref->peer);
    }
}


static void
ngx_http_scaleset_peer_release(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_peer_t *peer)
{
    if (--peer->refs == 0 && sscf->peers[peer->slot] != peer) {
        ngx_free(peer);
    }
}


/* one of the len entries of sched; sets sp->slot and sp->generation */

static ngx_int_t
ngx_http_scaleset_pick(ngx_http_scaleset_peer_data_t *sp, uint32_t *sched,
    ngx_uint_t len, uint32_t skip, ngx_uint_t least_conn)
{
    ngx_uint_t                  k, i, n, best;
    ngx_msec_t                  now, checked;
    ngx_atomic_uint_t           a, ba;
    ngx_http_scaleset_slot_t   *slot, *bslot;
    ngx_http_scaleset_shctx_t  *sh;

    if (len == 0) {
        return NGX_BUSY;
    }

    sh = sp->sh;
    now = ngx_current_msec;

    i = ngx_atomic_fetch_add(&sh->cursor, 1) % len;

    if (!least_conn) {
        for (k = 0; k < len; k++) {
            n = sched[i];
            slot = &sh->slots[n];

            if (ngx_http_scaleset_usable(sp, slot, n, skip, now)) {
                goto found;
            }

            if (++i == len) {
                i = 0;
            }
        }

        return NGX_BUSY;
    }

    best = NGX_CONF_UNSET_UINT;
    bslot = NULL;
    ba = 0;

    for (k = 0; k < len; k++) {
        n = sched[i];
        slot = &sh->slots[n];

        if (++i == len) {
            i = 0;
        }

        if (!ngx_http_scaleset_usable(sp, slot, n, skip, now)) {
            continue;
        }

        a = slot->active;

        if (bslot == NULL || a * bslot->weight < ba * slot->weight) {
            best = n;
            bslot = slot;
            ba = a;

            if (a == 0) {
                /* nobody is below zero: the first idle one in order */
                break;
            }
        }
    }

    if (bslot == NULL) {
        return NGX_BUSY;
    }

    n = best;
    slot = bslot;

found:

    sp->slot = n;
    sp->generation = slot->generation;

    if (slot->max_fails) {
        checked = slot->checked;

        if (now - checked > slot->fail_timeout) {
            /* the probe after fail_timeout: one worker starts it */
            (void) ngx_atomic_cmp_set(&slot->checked, checked, now);
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_scaleset_usable(ngx_http_scaleset_peer_data_t *sp,
    ngx_http_scaleset_slot_t *slot, ngx_uint_t i, uint32_t skip,
    ngx_msec_t now)
{
    /* a schedule read while rebuilt may name a slot freed or changed */

    if (!slot->in_use || (slot->flags & skip)) {
        return 0;
    }

    if (sp->tried
        && (sp->tried[i / (8 * sizeof(uintptr_t))]
            & ((uintptr_t) 1 << i % (8 * sizeof(uintptr_t)))))
    {
        return 0;
    }

    if (slot->max_fails && slot->fails >= slot->max_fails) {

        /* with active checks a passing check ends the failure */
        if (sp->sscf->check || now - slot->checked <= slot->fail_timeout) {
            return 0;
        }
    }

    return sp->sscf->check == NULL
           || ngx_http_scaleset_check_usable(sp->sscf, slot, now);
}


static void
ngx_http_scaleset_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_scaleset_peer_data_t *sp = data;

    ngx_msec_t                  now;
    ngx_atomic_uint_t           fails;
    ngx_http_scaleset_slot_t   *slot;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "scaleset free peer, state: %ui", state);

    if (sp->slot == NGX_CONF_UNSET_UINT) {
        pc->tries = 0;
        return;
    }

    slot = &sp->sh->slots[sp->slot];

    /* still the member: only a pool out of room gives a counted slot away */

    if (slot->generation == sp->generation) {

        ngx_http_scaleset_account(sp->sscf, slot, sp->request);

        if (state & NGX_PEER_FAILED) {
            now = ngx_current_msec;

            fails = ngx_atomic_fetch_add(&slot->fails, 1) + 1;
            (void) ngx_atomic_fetch_add(&slot->fails_total, 1);

            ngx_http_scaleset_store(&slot->accessed, now);
            ngx_http_scaleset_store(&slot->checked, now);

            if (slot->max_fails && fails == slot->max_fails) {
                ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                              "scaleset: member \"%s\" of pool \"%V\" "
                              "temporarily disabled after %uA failures",
                              slot->id, &sp->sscf->pool, fails);
            }

        } else {
            fails = slot->fails;

            if (fails && slot->accessed < slot->checked) {
                /* the probe passed */
                (void) ngx_atomic_cmp_set(&slot->fails, fails, 0);
            }
        }
    }

    /* last: once it is not counted, the slot may be given away */

    (void) ngx_atomic_fetch_add(&slot->active, (ngx_atomic_int_t) -1);

    sp->slot = NGX_CONF_UNSET_UINT;

    if (pc->tries) {
        pc->tries--;
    }
}


/* a time stamp written by any worker: the last one wins, whole */

static void
ngx_http_scaleset_store(ngx_atomic_t *p, ngx_atomic_uint_t v)
{
    ngx_atomic_uint_t  old;

    do {
        old = *p;
    } while (!ngx_atomic_cmp_set(p, old, v));
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_scaleset_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_http_scaleset_save_session(ngx_peer_connection_t *pc, void *data)
{
    return;
}

#endif
