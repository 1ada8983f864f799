/*
 * addr.c: static address allocation from a CIDR and a port (or a range
 * of ports on one address); placeholders for modes lease and agent,
 * whose address virt_list learns from libvirt once the guest has one,
 * and the check of such a learnt address against the pool's network.
 */

#include <stdio.h>

#include "scaler.h"

int
addr_static(const pool_config_t *p, int n, char *buf, size_t size)
{
    uint32_t a, hosts;

    if (n < 0) {
        return -1;
    }
    if (p->addr_mode != ADDR_STATIC) {
        snprintf(buf, size, "pending:%d", n);
        return 0;
    }
    if (p->port_lo) {
        /* (address, port) pairs: the CIDR's first address, one port each */
        if (n > p->port_hi - p->port_lo) {
            return -1;
        }
        a = p->net + (p->prefix_len == 32 ? 0 : 1);
        snprintf(buf, size, "%u.%u.%u.%u:%d", a >> 24, (a >> 16) & 255,
                 (a >> 8) & 255, a & 255, p->port_lo + n);
        return 0;
    }
    if (p->prefix_len < 8) {
        return -1; /* no cidr (parse_cidr takes /8../32) */
    }
    hosts = p->prefix_len >= 31 ? (p->prefix_len == 32 ? 1 : 2)
                                : (1U << (32 - p->prefix_len)) - 2;
    if ((uint32_t) n >= hosts) {
        return -1;
    }
    a = p->net + (p->prefix_len >= 31 ? 0 : 1) + n;
    snprintf(buf, size, "%u.%u.%u.%u:%d", a >> 24, (a >> 16) & 255,
             (a >> 8) & 255, a & 255, p->port);
    return 0;
}

int
addr_guest_ok(const pool_config_t *p, uint32_t ip)
{
    uint32_t mask;

    if (p->prefix_len > 0) {
        mask =
            p->prefix_len == 32 ? 0xffffffffU : ~(0xffffffffU >> p->prefix_len);
        return (ip & mask) == p->net;
    }
    if (p->addr_mode != ADDR_LEASE) {
        return 0; /* agent: only inside a network the config names */
    }
    return (ip >> 24) != 0 && (ip >> 24) != 127       /* 0/8, loopback */
           && (ip >> 16) != 0xa9fe                    /* link-local */
           && (ip >> 28) != 0xe && (ip >> 28) != 0xf; /* multicast, 240/4 */
}
