
/*
 * ngx_http_scaleset_module: the shared slots of a pool, the membership
 * diff that rewrites them, and the balancing schedule built from them
 * (the algorithm is in ngx_http_scaleset_sched.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


typedef struct {
    ngx_uint_t                      slot;
    ngx_http_scaleset_member_t     *member;    /* NULL: free the slot */
    ngx_uint_t                      renew;     /* new generation */
} ngx_http_scaleset_change_t;


static ngx_uint_t ngx_http_scaleset_sched_cap(ngx_uint_t max_members);
static ngx_int_t ngx_http_scaleset_take_over(
    ngx_http_scaleset_srv_conf_t *sscf, ngx_http_scaleset_shctx_t *from,
    ngx_log_t *log);


/*
 * The main configuration of the last cycle that started: read by the
 * next cycle's zone initialization (in the master, while the previous
 * cycle and its zones still exist), set again by init_module.
 */
ngx_http_scaleset_main_conf_t  *ngx_http_scaleset_prev;
static int ngx_libc_cdecl ngx_http_scaleset_cmp_members(const void *a,
    const void *b);
static int ngx_libc_cdecl ngx_http_scaleset_cmp_slots_ptr(const void *a,
    const void *b);
static int ngx_libc_cdecl ngx_http_scaleset_cmp_retired(const void *a,
    const void *b);
static void ngx_http_scaleset_lock_recovered(
    ngx_http_scaleset_srv_conf_t *sscf, ngx_uint_t dead, ngx_log_t *log);
static void ngx_http_scaleset_build_lock(ngx_http_scaleset_shctx_t *sh);
static void ngx_http_scaleset_build_unlock(ngx_http_scaleset_shctx_t *sh);
static int ngx_http_scaleset_slot_cmp(ngx_http_scaleset_slot_t *slot,
    ngx_str_t *id);
static ngx_uint_t ngx_http_scaleset_slot_differs(
    ngx_http_scaleset_slot_t *slot, scaleset_member_t *m);
static void ngx_http_scaleset_slot_write(ngx_http_scaleset_slot_t *slot,
    ngx_http_scaleset_member_t *mb, ngx_uint_t renew);
static void ngx_http_scaleset_slot_params(ngx_http_scaleset_slot_t *slot,
    scaleset_member_t *m);
static ngx_uint_t ngx_http_scaleset_eligible(ngx_http_scaleset_slot_t *slot,
    uint32_t backup);
static void ngx_http_scaleset_ramp_weights(ngx_http_scaleset_slot_t *slots,
    ngx_uint_t *idx, uint32_t *w, ngx_uint_t n, ngx_uint_t cap);
static ngx_http_scaleset_schedule_t *ngx_http_scaleset_spare(
    ngx_http_scaleset_shctx_t *sh, ngx_http_scaleset_slot_t *slots,
    ngx_uint_t *dp, ngx_uint_t *db, ngx_pool_t *pool, ngx_log_t *log);
static void ngx_http_scaleset_switch(ngx_http_scaleset_shctx_t *sh,
    ngx_http_scaleset_schedule_t *sched, ngx_uint_t dp, ngx_uint_t db);
static ngx_uint_t ngx_http_scaleset_build(ngx_http_scaleset_shctx_t *sh,
    ngx_http_scaleset_slot_t *slots, uint32_t backup, uint32_t *sched,
    ngx_uint_t cap, ngx_uint_t *distinct, ngx_pool_t *pool, ngx_log_t *log);


size_t
ngx_http_scaleset_zone_size(ngx_uint_t max_members)
{
    size_t  size;

    size = sizeof(ngx_http_scaleset_shctx_t)
           + max_members * sizeof(ngx_http_scaleset_slot_t)
           + 2 * ngx_http_scaleset_sched_cap(max_members) * sizeof(uint32_t);

    /* the slab pool's page descriptors and its own pages, the lock */
    return ngx_align(size + size / 64, 4096) + 16 * 4096
           + ngx_align(sizeof(ngx_http_scaleset_lock_t), 4096);
}


static ngx_uint_t
ngx_http_scaleset_sched_cap(ngx_uint_t max_members)
{
    return ngx_max(max_members * NGX_HTTP_SCALESET_SCHED_PER_MEMBER,
                   NGX_HTTP_SCALESET_SCHED_MIN);
}


ngx_int_t
ngx_http_scaleset_init_main_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_scaleset_main_conf_t  *osmcf = data;
    ngx_http_scaleset_main_conf_t  *smcf;
    ngx_slab_pool_t                *shpool;

    smcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osmcf) {
        smcf->sh = osmcf->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        smcf->sh = shpool->data;
        return NGX_OK;
    }

    smcf->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_scaleset_main_shctx_t));
    if (smcf->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = smcf->sh;

    return NGX_OK;
}


/*
 * A pool's zone: kept across a reload (NGX_OK), or new and empty
 * (NGX_DONE), to be filled by the caller.
 */

ngx_int_t
ngx_http_scaleset_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_scaleset_srv_conf_t  *osscf = data;

    size_t                          size;
    ngx_uint_t                      cap;
    ngx_time_t                     *tp;
    ngx_slab_pool_t                *shpool;
    ngx_http_scaleset_shctx_t      *sh;
    ngx_http_scaleset_srv_conf_t   *sscf;

    sscf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osscf || shm_zone->shm.exists) {
        sh = osscf ? osscf->sh : shpool->data;

        if (sh->layout != NGX_HTTP_SCALESET_LAYOUT
            || sh->slot_size != sizeof(ngx_http_scaleset_slot_t))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "scaleset: pool \"%V\": the zone was made by "
                          "another build of the module; restart nginx",
                          &sscf->pool);
            return NGX_ERROR;
        }

        if (sh->max_members != sscf->max_members) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "scaleset: pool \"%V\" keeps its zone on reload "
                          "but max_members changed from %ui to %ui; change "
                          "zone= too, or restart",
                          &sscf->pool, sh->max_members, sscf->max_members);
            return NGX_ERROR;
        }

        sscf->sh = sh;

        ngx_log_error(NGX_LOG_INFO, shm_zone->shm.log, 0,
                      "scaleset: pool \"%V\" kept %ui members across reload",
                      &sscf->pool, sh->members);
        return NGX_OK;
    }

    cap = ngx_http_scaleset_sched_cap(sscf->max_members);

    size = sizeof(ngx_http_scaleset_shctx_t)
           + sscf->max_members * sizeof(ngx_http_scaleset_slot_t)
           + 2 * cap * sizeof(uint32_t);

    sh = ngx_slab_calloc(shpool, size);
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "scaleset: zone of pool \"%V\" is too small",
                      &sscf->pool);
        return NGX_ERROR;
    }

    sh->lock = ngx_slab_calloc(shpool, sizeof(ngx_http_scaleset_lock_t));
    if (sh->lock == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "scaleset: zone of pool \"%V\" is too small",
                      &sscf->pool);
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    sh->layout = NGX_HTTP_SCALESET_LAYOUT;
    sh->started = (uint64_t) tp->sec * 1000 + tp->msec;
    sh->max_members = sscf->max_members;
    sh->slot_size = sizeof(ngx_http_scaleset_slot_t);
    sh->sched_cap = cap;
    sh->slots = (ngx_http_scaleset_slot_t *) (sh + 1);
    sh->sched[0].entries = (uint32_t *) (sh->slots + sscf->max_members);
    sh->sched[1].entries = sh->sched[0].entries + cap;

    shpool->data = sh;
    sscf->sh = sh;

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "scaleset: pool \"%V\": zone of %uz bytes, %ui slots of "
                  "%uz bytes, %uz bytes per member with the schedule",
                  &sscf->pool, shm_zone->shm.size, sscf->max_members,
                  sizeof(ngx_http_scaleset_slot_t), size / sscf->max_members);

    /* new and empty: where its members come from is the caller's choice */

    return NGX_DONE;
}


/* the member a slot holds, as the codec describes it */

void
ngx_http_scaleset_slot_member(ngx_http_scaleset_slot_t *slot,
    scaleset_member_t *m, u_char *addr)
{
    ngx_memzero(m, sizeof(scaleset_member_t));

    m->address.len = ngx_sock_ntop((struct sockaddr *) &slot->sockaddr,
                                   slot->socklen, addr, NGX_SOCKADDR_STRLEN,
                                   1);
    m->address.data = (char *) addr;
    ngx_memcpy(&m->sockaddr, &slot->sockaddr, slot->socklen);
    m->socklen = slot->socklen;
    m->weight = slot->weight;
    m->max_fails = slot->max_fails;
    m->fail_timeout = slot->fail_timeout;
    m->zone.data = (char *) slot->zone;
    m->zone.len = slot->zone_len;
    m->version.data = (char *) slot->version;
    m->version.len = slot->version_len;
    m->flags = slot->flags;
}


/*
 * A pool's zone was recreated on reload (its size changed): the members
 * move over from the previous cycle's zone, which is still mapped.
 * NGX_DECLINED when there is no such zone.
 */

ngx_int_t
ngx_http_scaleset_inherit(ngx_http_scaleset_srv_conf_t *sscf, ngx_log_t *log)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_http_scaleset_srv_conf_t   **pools, *old;

    if (ngx_http_scaleset_prev == NULL) {
        return NGX_DECLINED;
    }

    old = NULL;
    pools = ngx_http_scaleset_prev->pools.elts;

    for (i = 0; i < ngx_http_scaleset_prev->pools.nelts; i++) {
        if (pools[i]->pool.len == sscf->pool.len
            && ngx_strncmp(pools[i]->pool.data, sscf->pool.data,
                           sscf->pool.len) == 0)
        {
            old = pools[i];
            break;
        }
    }

    if (old == NULL || old->sh == NULL || old->sh == sscf->sh
        || old->sh->layout != NGX_HTTP_SCALESET_LAYOUT
        || old->sh->slot_size != sizeof(ngx_http_scaleset_slot_t))
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_scaleset_take_over(sscf, old->sh, log);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "scaleset: pool \"%V\": %ui members taken over from the "
                  "previous zone", &sscf->pool, sscf->sh->members);

    return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/*
 * A reload may narrow scaleset_allow while the kept zone holds members it
 * no longer allows: the worker that takes the Redis lease removes them
 * before anything else, whether Redis answers or not.
 */

ngx_int_t
ngx_http_scaleset_refilter(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log)
{
    ngx_uint_t                 i;
    ngx_http_scaleset_slot_t  *slot;

    for (i = 0; i < sscf->sh->max_members; i++) {
        slot = &sscf->sh->slots[i];

        if (slot->in_use
            && !ngx_http_scaleset_allowed(sscf,
                                          (struct sockaddr *) &slot->sockaddr,
                                          slot->socklen))
        {
            return ngx_http_scaleset_take_over(sscf, sscf->sh, log);
        }
    }

    return NGX_DECLINED;
}


/*
 * Applies the members held in the slots of a zone (the previous cycle's,
 * or the pool's own) that scaleset_allow lets in; the others are logged
 * and left out.
 */

static ngx_int_t
ngx_http_scaleset_take_over(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_shctx_t *from, ngx_log_t *log)
{
    u_char                      *addrs, *ids;
    ngx_int_t                    rc;
    ngx_uint_t                   i, n;
    ngx_pool_t                  *pool;
    ngx_array_t                  members;
    ngx_http_scaleset_slot_t    *slot;
    ngx_http_scaleset_member_t  *mb;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    n = from->max_members;

    /* ids are copied: the slots they come from may be rewritten */

    addrs = ngx_pnalloc(pool, n * NGX_SOCKADDR_STRLEN);
    ids = ngx_pnalloc(pool, n * (SCALESET_ID_MAX + 1));

    if (addrs == NULL || ids == NULL
        || ngx_array_init(&members, pool, n,
                          sizeof(ngx_http_scaleset_member_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        slot = &from->slots[i];

        if (!slot->in_use) {
            continue;
        }

        if (!ngx_http_scaleset_allowed(sscf,
                                       (struct sockaddr *) &slot->sockaddr,
                                       slot->socklen))
        {
            (void) ngx_atomic_fetch_add(&sscf->sh->rejected_total, 1);

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "scaleset: pool \"%V\": member \"%s\" removed: "
                          "its address is not allowed by \"scaleset_allow\"",
                          &sscf->pool, slot->id);
            continue;
        }

        mb = ngx_array_push(&members);
        mb->id.data = ngx_cpymem(ids + i * (SCALESET_ID_MAX + 1), slot->id,
                                 slot->id_len)
                      - slot->id_len;
        mb->id.len = slot->id_len;
        ngx_http_scaleset_slot_member(slot, &mb->m,
                                      addrs + i * NGX_SOCKADDR_STRLEN);
    }

    rc = ngx_http_scaleset_apply(sscf, &members, from->epoch, from->source,
                                 log);

    ngx_destroy_pool(pool);

    return rc;
}


/*
 * Parses one field of the members hash with the shared codec and appends
 * it to members.  A bad record is skipped and logged once (per content).
 * Returns NGX_OK, NGX_DECLINED for a skipped record, NGX_ERROR.
 */

ngx_int_t
ngx_http_scaleset_add_member(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_array_t *members, u_char *id, size_t id_len, u_char *rec,
    size_t rec_len, ngx_uint_t log_once, ngx_log_t *log)
{
    uint32_t                     crc, *c;
    ngx_uint_t                   i;
    scaleset_error_t             err;
    ngx_http_scaleset_member_t  *mb;

    mb = ngx_array_push(members);
    if (mb == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&err, sizeof(scaleset_error_t));

    if (!scaleset_id_valid((char *) id, id_len)) {
        err.code = SCALESET_ERR_NAME;
        ngx_cpystrn((u_char *) err.msg, (u_char *) "invalid instance id",
                    sizeof(err.msg));
        goto bad;
    }

    if (scaleset_member_parse((char *) rec, rec_len, &mb->m, &err) != 0) {
        goto bad;
    }

    if (mb->m.socklen > sizeof(ngx_sockaddr_t)) {
        err.code = SCALESET_ERR_ADDRESS;
        ngx_cpystrn((u_char *) err.msg, (u_char *) "address too long",
                    sizeof(err.msg));
        goto bad;
    }

    if (!ngx_http_scaleset_allowed(sscf, (struct sockaddr *) &mb->m.sockaddr,
                                   mb->m.socklen))
    {
        err.code = SCALESET_ERR_ADDRESS;
        *ngx_snprintf((u_char *) err.msg, sizeof(err.msg) - 1,
                      "%*s is not allowed by \"scaleset_allow\"",
                      ngx_min(mb->m.address.len, 100), mb->m.address.data)
            = '\0';
        goto bad;
    }

    mb->id.data = id;
    mb->id.len = id_len;

    return NGX_OK;

bad:

    members->nelts--;

    (void) ngx_atomic_fetch_add(&sscf->sh->bad_records, 1);

    if (!log_once) {
        goto log;
    }

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, id, id_len);
    ngx_crc32_update(&crc, (u_char *) " ", 1);
    ngx_crc32_update(&crc, rec, rec_len);
    ngx_crc32_final(crc);

    if (sscf->logged == NULL) {
        sscf->logged = ngx_array_create(ngx_cycle->pool, 8, sizeof(uint32_t));
        if (sscf->logged == NULL) {
            return NGX_ERROR;
        }
    }

    c = sscf->logged->elts;
    for (i = 0; i < sscf->logged->nelts; i++) {
        if (c[i] == crc) {
            return NGX_DECLINED;
        }
    }

    if (sscf->logged->nelts < 4096) {
        c = ngx_array_push(sscf->logged);
        if (c == NULL) {
            return NGX_ERROR;
        }

        *c = crc;
    }

log:

    (void) ngx_atomic_fetch_add(&sscf->sh->rejected_total, 1);

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "scaleset: pool \"%V\": member \"%*s\" skipped: %s (%s)",
                  &sscf->pool, ngx_min(id_len, 64), id,
                  err.msg[0] ? err.msg : "invalid record",
                  scaleset_errcode_name(err.code));

    return NGX_DECLINED;
}


/*
 * Makes the slots hold exactly the given members: a known id keeps its
 * slot (and its counters), a missing id frees its slot, a new id takes a
 * slot, and an id at a new address moves to another slot (the old one is
 * freed).  A freed slot drains the requests counted in it before another
 * member gets it: a new member takes a free slot first, then the slot freed
 * longest ago, then one freed by this change (see the slot's comment).
 * The new schedule is built off-lock into the spare buffer; the write lock
 * covers only the slot copies and the buffer switch.  Only the lease holder
 * (or the master at start) calls this.
 */

ngx_int_t
ngx_http_scaleset_apply(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_array_t *members, uint64_t epoch, ngx_uint_t source, ngx_log_t *log)
{
    int                            rc;
    ngx_uint_t                     i, j, k, n, a, b, nslots;
    ngx_uint_t                     nmembers, nroom, nmoved, nnew, *order;
    ngx_uint_t                     *room, added, removed, changed;
    ngx_uint_t                     dp, db, dead;
    ngx_pool_t                    *pool;
    ngx_array_t                    changes;
    ngx_http_scaleset_slot_t      *slots, *shadow, *slot, **ps;
    ngx_http_scaleset_shctx_t     *sh;
    ngx_http_scaleset_member_t    *mb, **moved, **fresh;
    ngx_http_scaleset_change_t    *ch;
    ngx_http_scaleset_schedule_t  *sched;

    sh = sscf->sh;
    slots = sh->slots;
    nslots = sh->max_members;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&changes, pool, 16, sizeof(ngx_http_scaleset_change_t))
        != NGX_OK)
    {
        goto failed;
    }

    mb = members->elts;
    n = members->nelts;

    ngx_qsort(mb, n, sizeof(ngx_http_scaleset_member_t),
              ngx_http_scaleset_cmp_members);

    /* drop duplicate ids (possible in a state file): the last one wins */

    for (i = 0, j = 0; i < n; i++) {
        if (i + 1 < n && mb[i].id.len == mb[i + 1].id.len
            && ngx_strncmp(mb[i].id.data, mb[i + 1].id.data, mb[i].id.len)
               == 0)
        {
            continue;
        }

        mb[j++] = mb[i];
    }

    n = j;

    order = ngx_palloc(pool, (nslots + 1) * sizeof(ngx_uint_t));
    room = ngx_palloc(pool, (nslots + 1) * sizeof(ngx_uint_t));
    ps = ngx_palloc(pool, (nslots + 1) * sizeof(ngx_http_scaleset_slot_t *));
    moved = ngx_palloc(pool, (n + 1) * sizeof(ngx_http_scaleset_member_t *));
    fresh = ngx_palloc(pool, (n + 1) * sizeof(ngx_http_scaleset_member_t *));
    shadow = ngx_palloc(pool, nslots * sizeof(ngx_http_scaleset_slot_t));

    if (order == NULL || room == NULL || ps == NULL || moved == NULL
        || fresh == NULL || shadow == NULL)
    {
        goto failed;
    }

    /* room for new members: the free slots, then the draining ones */

    nmembers = 0;
    nroom = 0;
    k = 0;

    for (i = 0; i < nslots; i++) {
        if (slots[i].in_use) {
            order[nmembers++] = i;

        } else if (slots[i].active == 0) {
            room[nroom++] = i;

        } else {
            ps[k++] = &slots[i];
        }
    }

    ngx_qsort(ps, k, sizeof(ngx_http_scaleset_slot_t *),
              ngx_http_scaleset_cmp_retired);

    for (i = 0; i < k; i++) {
        room[nroom++] = ps[i] - slots;
    }

    /* the current members in id order, merged with the new ones */

    for (i = 0; i < nmembers; i++) {
        ps[i] = &slots[order[i]];
    }

    ngx_qsort(ps, nmembers, sizeof(ngx_http_scaleset_slot_t *),
              ngx_http_scaleset_cmp_slots_ptr);

    for (i = 0; i < nmembers; i++) {
        order[i] = ps[i] - slots;
    }

    added = 0;
    removed = 0;
    changed = 0;
    nmoved = 0;
    nnew = 0;
    a = 0;
    b = 0;

    while (a < n || b < nmembers) {

        if (a < n && b < nmembers) {
            rc = ngx_http_scaleset_slot_cmp(&slots[order[b]], &mb[a].id);

        } else {
            rc = (a < n) ? 1 : -1;
        }

        if (rc > 0) {
            fresh[nnew++] = &mb[a++];
            continue;
        }

        slot = &slots[order[b]];

        if (rc == 0
            && slot->socklen == mb[a].m.socklen
            && ngx_memcmp(&slot->sockaddr, &mb[a].m.sockaddr,
                          mb[a].m.socklen)
               == 0)
        {
            if (ngx_http_scaleset_slot_differs(slot, &mb[a].m)) {
                ch = ngx_array_push(&changes);
                if (ch == NULL) {
                    goto failed;
                }

                ch->slot = order[b];
                ch->member = &mb[a];
                ch->renew = 0;
                changed++;
            }

            a++;
            b++;
            continue;
        }

        /* a member gone, or at a new address: its slot is freed */

        ch = ngx_array_push(&changes);
        if (ch == NULL) {
            goto failed;
        }

        ch->slot = order[b];
        ch->member = NULL;
        ch->renew = 1;
        room[nroom++] = order[b];
        b++;

        if (rc == 0) {
            moved[nmoved++] = &mb[a++];
            changed++;

        } else {
            removed++;
        }
    }

    /*
     * the moved members take a slot first: each freed one, so none of them
     * is left without
     */

    for (i = 0, k = 0; i < nmoved + nnew; i++) {
        mb = (i < nmoved) ? moved[i] : fresh[i - nmoved];

        if (k == nroom) {
            (void) ngx_atomic_fetch_add(&sh->skipped_full, 1);

            if (sscf->full_logged != epoch + 1) {
                sscf->full_logged = epoch + 1;
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "scaleset: pool \"%V\" is full "
                              "(max_members=%ui): member \"%V\" skipped",
                              &sscf->pool, nslots, &mb->id);
            }

            continue;
        }

        ch = ngx_array_push(&changes);
        if (ch == NULL) {
            goto failed;
        }

        ch->slot = room[k++];
        ch->member = mb;
        ch->renew = 1;

        if (i >= nmoved) {
            added++;
        }
    }

    /* the slots as they will be: a private copy to build the schedule */

    ngx_http_scaleset_build_lock(sh);

    ngx_memcpy(shadow, slots, nslots * sizeof(ngx_http_scaleset_slot_t));

    ch = changes.elts;
    for (i = 0; i < changes.nelts; i++) {
        slot = &shadow[ch[i].slot];
        ngx_http_scaleset_slot_write(slot, ch[i].member, ch[i].renew);
        slot->ramp = (u_char) ngx_http_scaleset_check_ramp(sscf, slot,
                                                           ngx_current_msec);
    }

    sched = ngx_http_scaleset_spare(sh, shadow, &dp, &db, pool, log);

    /* the only section under the write lock: copies, no I/O */

    dead = ngx_http_scaleset_wlock(sh->lock);

    for (i = 0; i < changes.nelts; i++) {
        slot = &slots[ch[i].slot];
        ngx_http_scaleset_slot_write(slot, ch[i].member, ch[i].renew);
        slot->ramp = shadow[ch[i].slot].ramp;
    }

    ngx_http_scaleset_switch(sh, sched, dp, db);

    sh->members = nmembers + added - removed;
    sh->epoch = epoch;
    sh->source = source;
    sh->updated = ngx_current_msec;
    sh->updated_sec = ngx_time();

    ngx_http_scaleset_wunlock(sh->lock);

    ngx_http_scaleset_build_unlock(sh);

    ngx_http_scaleset_lock_recovered(sscf, dead, log);

    (void) ngx_atomic_fetch_add(&sh->version, 1);

    if (added || removed || changed) {
        (void) ngx_atomic_fetch_add(&sh->applied_total, 1);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "scaleset: pool \"%V\" epoch %uL from %s: %ui members "
                      "(%ui added, %ui removed, %ui changed), "
                      "%ui serving, %ui backup",
                      &sscf->pool, epoch,
                      source == NGX_HTTP_SCALESET_SOURCE_STATE ? "state file"
                                                               : "redis",
                      sh->members, added, removed, changed, dp, db);
    }

    ngx_destroy_pool(pool);

    return (added || removed || changed) ? NGX_OK : NGX_DECLINED;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/*
 * Rebuilds the schedule from the slots as they are when a member's slow
 * start level moved (it came up, or its ramp advanced): the levels are
 * recomputed and written into the slots, and nothing is built when none
 * changed (NGX_DECLINED).  Any worker may call it.
 */

ngx_int_t
ngx_http_scaleset_rebuild(ngx_http_scaleset_srv_conf_t *sscf, ngx_log_t *log)
{
    u_char                         level;
    ngx_uint_t                     i, dp, db, moved, dead;
    ngx_msec_t                     now;
    ngx_pool_t                    *pool;
    ngx_http_scaleset_slot_t      *slot;
    ngx_http_scaleset_shctx_t     *sh;
    ngx_http_scaleset_schedule_t  *sched;

    sh = sscf->sh;
    now = ngx_current_msec;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_http_scaleset_build_lock(sh);

    /* the levels are written by the builder only: under the build lock */

    moved = 0;

    for (i = 0; i < sh->max_members; i++) {
        slot = &sh->slots[i];

        if (!slot->in_use) {
            continue;
        }

        level = (u_char) ngx_http_scaleset_check_ramp(sscf, slot, now);

        if (slot->ramp != level) {
            slot->ramp = level;
            moved = 1;
        }
    }

    if (!moved) {
        ngx_http_scaleset_build_unlock(sh);
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    sched = ngx_http_scaleset_spare(sh, sh->slots, &dp, &db, pool, log);

    dead = ngx_http_scaleset_wlock(sh->lock);

    ngx_http_scaleset_switch(sh, sched, dp, db);

    ngx_http_scaleset_wunlock(sh->lock);

    ngx_http_scaleset_build_unlock(sh);

    ngx_http_scaleset_lock_recovered(sscf, dead, log);

    ngx_destroy_pool(pool);

    return NGX_OK;
}


static void
ngx_http_scaleset_lock_recovered(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_uint_t dead, ngx_log_t *log)
{
    if (dead) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "scaleset: pool \"%V\": %ui hold(s) of the slot lock "
                      "left by dead processes released", &sscf->pool, dead);
    }
}


/*
 * Serializes the writers of the spare schedule buffer (the lease holder's
 * apply, any worker's rebuild).  A lock left by a dead process is taken
 * back; no I/O happens while it is held.
 */

static void
ngx_http_scaleset_build_lock(ngx_http_scaleset_shctx_t *sh)
{
    ngx_pid_t  owner;

    for ( ;; ) {
        if (sh->build_lock == 0
            && ngx_atomic_cmp_set(&sh->build_lock, 0,
                                  (ngx_atomic_uint_t) ngx_pid))
        {
            return;
        }

        owner = (ngx_pid_t) sh->build_lock;

        if (owner && owner != ngx_pid
            && kill(owner, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            (void) ngx_atomic_cmp_set(&sh->build_lock,
                                      (ngx_atomic_uint_t) owner, 0);
            continue;
        }

        ngx_sched_yield();
    }
}


static void
ngx_http_scaleset_build_unlock(ngx_http_scaleset_shctx_t *sh)
{
    (void) ngx_atomic_cmp_set(&sh->build_lock, (ngx_atomic_uint_t) ngx_pid, 0);
}


static int ngx_libc_cdecl
ngx_http_scaleset_cmp_members(const void *a, const void *b)
{
    const ngx_http_scaleset_member_t  *ma = a, *mb = b;
    int                                rc;

    rc = ngx_memcmp(ma->id.data, mb->id.data, ngx_min(ma->id.len, mb->id.len));
    if (rc) {
        return rc;
    }

    return (int) ma->id.len - (int) mb->id.len;
}


static int ngx_libc_cdecl
ngx_http_scaleset_cmp_slots_ptr(const void *a, const void *b)
{
    ngx_http_scaleset_slot_t  *sa = *(ngx_http_scaleset_slot_t **) a;
    ngx_http_scaleset_slot_t  *sb = *(ngx_http_scaleset_slot_t **) b;
    ngx_str_t                  id;

    id.data = sb->id;
    id.len = sb->id_len;

    return ngx_http_scaleset_slot_cmp(sa, &id);
}


/* the slots freed longest ago first */

static int ngx_libc_cdecl
ngx_http_scaleset_cmp_retired(const void *a, const void *b)
{
    ngx_http_scaleset_slot_t  *sa = *(ngx_http_scaleset_slot_t **) a;
    ngx_http_scaleset_slot_t  *sb = *(ngx_http_scaleset_slot_t **) b;

    if (sa->accessed == sb->accessed) {
        return 0;
    }

    return ((ngx_msec_int_t) (sa->accessed - sb->accessed) < 0) ? -1 : 1;
}


static int
ngx_http_scaleset_slot_cmp(ngx_http_scaleset_slot_t *slot, ngx_str_t *id)
{
    int  rc;

    rc = ngx_memcmp(slot->id, id->data, ngx_min(slot->id_len, id->len));
    if (rc) {
        return rc;
    }

    return (int) slot->id_len - (int) id->len;
}


static ngx_uint_t
ngx_http_scaleset_slot_differs(ngx_http_scaleset_slot_t *slot,
    scaleset_member_t *m)
{
    /* the address is the same: another one moves the member */

    return slot->weight != m->weight
           || slot->max_fails != m->max_fails
           || slot->fail_timeout != m->fail_timeout
           || slot->flags != m->flags
           || slot->zone_len != m->zone.len
           || (m->zone.len
               && ngx_memcmp(slot->zone, m->zone.data, m->zone.len) != 0)
           || slot->version_len != m->version.len
           || (m->version.len
               && ngx_memcmp(slot->version, m->version.data, m->version.len)
                  != 0);
}


/*
 * renew: the slot gets another member (mb) or none (mb == NULL), written
 * as a seqlock (odd generation while written, a new even one after) and
 * with the member's counters started again, except active, which the
 * requests still counted in the slot give back; else the same member at
 * the same address gets its new parameters in place.
 */

static void
ngx_http_scaleset_slot_write(ngx_http_scaleset_slot_t *slot,
    ngx_http_scaleset_member_t *mb, ngx_uint_t renew)
{
    if (!renew) {
        ngx_http_scaleset_slot_params(slot, &mb->m);
        return;
    }

    slot->generation |= 1;
    ngx_memory_barrier();

    slot->requests = 0;
    slot->fails = 0;
    slot->fails_total = 0;
    ngx_memzero((void *) slot->responses, sizeof(slot->responses));
    slot->accessed = 0;
    slot->checked = 0;
    slot->health = NGX_HTTP_SCALESET_HEALTH_UNCHECKED;
    slot->health_fails = 0;
    slot->health_passes = 0;
    slot->health_checked = 0;
    slot->health_since = ngx_current_msec;
    slot->health_reason = 0;
    slot->health_latency = 0;
    slot->health_wall = 0;
    slot->ramp = 0;

    if (mb == NULL) {
        /* no request counts into a freed slot: accessed is the lease's */
        slot->in_use = 0;
        slot->id_len = 0;
        slot->accessed = ngx_current_msec;

    } else {
        slot->socklen = mb->m.socklen;
        ngx_memcpy(&slot->sockaddr, &mb->m.sockaddr, mb->m.socklen);

        slot->id_len = (u_char) ngx_min(mb->id.len, SCALESET_ID_MAX);
        ngx_memcpy(slot->id, mb->id.data, slot->id_len);
        slot->id[slot->id_len] = '\0';

        ngx_http_scaleset_slot_params(slot, &mb->m);

        slot->in_use = 1;
    }

    ngx_memory_barrier();
    slot->generation++;
}


/* what a member may change without a new slot */

static void
ngx_http_scaleset_slot_params(ngx_http_scaleset_slot_t *slot,
    scaleset_member_t *m)
{
    slot->weight = m->weight;
    slot->max_fails = m->max_fails;
    slot->fail_timeout = m->fail_timeout;
    slot->flags = m->flags;

    /* a slice of length 0 may have a NULL data pointer: no memcpy then */

    slot->zone_len = (u_char) ngx_min(m->zone.len, SCALESET_NAME_MAX);
    if (slot->zone_len) {
        ngx_memcpy(slot->zone, m->zone.data, slot->zone_len);
    }
    slot->zone[slot->zone_len] = '\0';

    slot->version_len = (u_char) ngx_min(m->version.len, SCALESET_NAME_MAX);
    if (slot->version_len) {
        ngx_memcpy(slot->version, m->version.data, slot->version_len);
    }
    slot->version[slot->version_len] = '\0';
}


static ngx_uint_t
ngx_http_scaleset_eligible(ngx_http_scaleset_slot_t *slot, uint32_t backup)
{
    if (!slot->in_use) {
        return 0;
    }

    if (slot->flags & (SCALESET_MEMBER_DOWN|SCALESET_MEMBER_DRAIN)) {
        return 0;
    }

    if ((slot->flags & SCALESET_MEMBER_BACKUP) != backup) {
        return 0;
    }

    /* health is judged per request: members come back without a rebuild */

    return 1;
}


/*
 * Slow start: a member at ramp level r of LEVELS gets r / LEVELS of its
 * weight.  All weights are multiplied by the same scale (LEVELS, or less
 * when the period would not fit the buffer), so the ramp needs no
 * fractions; without ramping members the weights stay as they are.
 */

static void
ngx_http_scaleset_ramp_weights(ngx_http_scaleset_slot_t *slots,
    ngx_uint_t *idx, uint32_t *w, ngx_uint_t n, ngx_uint_t cap)
{
    u_char      r;
    uint64_t    scale, total;
    ngx_uint_t  i, ramping;

    total = 0;
    ramping = 0;

    for (i = 0; i < n; i++) {
        total += w[i];
        ramping |= slots[idx[i]].ramp;
    }

    if (!ramping) {
        return;
    }

    scale = ngx_min((uint64_t) NGX_HTTP_SCALESET_RAMP_LEVELS, cap / total);
    scale = ngx_max(scale, 1);

    for (i = 0; i < n; i++) {
        r = slots[idx[i]].ramp;

        if (r == 0) {
            w[i] = (uint32_t) (w[i] * scale);

        } else {
            w[i] = (uint32_t) ngx_max(1, w[i] * scale * r
                                         / NGX_HTTP_SCALESET_RAMP_LEVELS);
        }
    }
}


/*
 * The schedules of the slots as they will be into the spare buffer, under
 * the build lock: the primaries', then the backups'; *dp and *db get their
 * numbers of members.  Only a request that read the buffer before the last
 * switch can still be reading it (see get_peer).
 */

static ngx_http_scaleset_schedule_t *
ngx_http_scaleset_spare(ngx_http_scaleset_shctx_t *sh,
    ngx_http_scaleset_slot_t *slots, ngx_uint_t *dp, ngx_uint_t *db,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_http_scaleset_schedule_t  *sched;

    sched = &sh->sched[sh->current ^ 1];

    sched->nprimary = ngx_http_scaleset_build(sh, slots, 0, sched->entries,
                                              sh->sched_cap, dp, pool, log);
    sched->nbackup = ngx_http_scaleset_build(sh, slots,
                                             SCALESET_MEMBER_BACKUP,
                                             sched->entries + sched->nprimary,
                                             sh->sched_cap - sched->nprimary,
                                             db, pool, log);
    return sched;
}


/* requests take the new schedule, under the write lock */

static void
ngx_http_scaleset_switch(ngx_http_scaleset_shctx_t *sh,
    ngx_http_scaleset_schedule_t *sched, ngx_uint_t dp, ngx_uint_t db)
{
    /* the slots and the schedule before the switch to it */
    ngx_memory_barrier();

    sh->current = sched - sh->sched;
    sh->primaries = dp;
    sh->backups = db;
}


/*
 * The schedule of the eligible slots (in slot order) into sched: nginx's
 * smooth weighted round robin (ngx_http_scaleset_sched.c) over their
 * weights, slow start levels applied; returns its length and the number
 * of members in it.
 */

static ngx_uint_t
ngx_http_scaleset_build(ngx_http_scaleset_shctx_t *sh,
    ngx_http_scaleset_slot_t *slots, uint32_t backup, uint32_t *sched,
    ngx_uint_t cap, ngx_uint_t *distinct, ngx_pool_t *pool, ngx_log_t *log)
{
    void        *work;
    size_t       len;
    uint32_t    *w;
    uint64_t     scaled;
    ngx_uint_t   i, n, *idx;

    *distinct = 0;

    idx = ngx_palloc(pool, sh->max_members * sizeof(ngx_uint_t));
    w = ngx_palloc(pool, sh->max_members * sizeof(uint32_t));
    work = ngx_palloc(pool,
                      ngx_http_scaleset_sched_work_size(sh->max_members));
    if (idx == NULL || w == NULL || work == NULL) {
        return 0;
    }

    n = 0;

    for (i = 0; i < sh->max_members; i++) {
        if (ngx_http_scaleset_eligible(&slots[i], backup)) {
            idx[n] = i;
            w[n] = slots[i].weight ? slots[i].weight : 1;
            n++;
        }
    }

    *distinct = n;

    /* the builder takes no more members than entries */
    ngx_http_scaleset_ramp_weights(slots, idx, w, ngx_min(n, cap), cap);

    len = ngx_http_scaleset_sched_build(w, n, sched, cap, work, &scaled);

    if (scaled) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "scaleset: total weight %uL is more than the schedule "
                      "holds (%ui): weights are scaled down", scaled, cap);
    }

    /* member positions to slots */

    for (i = 0; i < len; i++) {
        sched[i] = (uint32_t) idx[sched[i]];
    }

    return len;
}
