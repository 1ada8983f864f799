
/*
 * ngx_http_scaleset_module: nginx's smooth weighted round robin as a
 * precomputed schedule.  Plain C without nginx's headers, so that its unit
 * test (t/unit/test_sched.c) links this file alone.
 */


#ifndef _NGX_HTTP_SCALESET_SCHED_H_INCLUDED_
#define _NGX_HTTP_SCALESET_SCHED_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* bytes of the work area ngx_http_scaleset_sched_build() needs for n */
size_t ngx_http_scaleset_sched_work_size(size_t n);

/*
 * Writes one period of nginx's smooth weighted round robin over n members
 * into sched and returns its length.  weight[i] is member i's weight (0
 * counts as 1); sched gets member positions 0 .. n - 1; work has
 * ngx_http_scaleset_sched_work_size(n) bytes, aligned for uint64_t.
 *
 * Weights are first divided by their gcd (the sequence is the same).  When
 * the period would not fit cap entries the weights are scaled down to fit
 * (shares then approximate) and *scaled is set to the total weight that
 * did not fit, else to 0.  With more members than cap, only the first cap
 * take part.  Returns 0 for n == 0 or cap == 0.
 */
size_t ngx_http_scaleset_sched_build(const uint32_t *weight, size_t n,
    uint32_t *sched, size_t cap, void *work, uint64_t *scaled);


#endif /* _NGX_HTTP_SCALESET_SCHED_H_INCLUDED_ */
