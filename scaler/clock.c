/*
 * clock.c: the scaler's two clocks.  clock_mono_ms() for timeouts and
 * intervals within this process (never jumps); clock_unix_ms() for times
 * that are stored or compared with other processes' (Redis records, the
 * gateways' reports, an instance's creation time in its tag).
 */

#include <time.h>

#include "clock.h"

static uint64_t
ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

uint64_t
clock_mono_ms(void)
{
    return ms(CLOCK_MONOTONIC);
}

uint64_t
clock_unix_ms(void)
{
    return ms(CLOCK_REALTIME);
}
