/*
 * clock.c: the scaler's clocks, in ms.  One header of its own, so that
 * the autoscale modules (autoscale_runner.h) use it without the daemon's.
 */

#ifndef SCALER_CLOCK_H
#define SCALER_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: intervals and timeouts within this process */
uint64_t clock_mono_ms(void);
/* CLOCK_REALTIME: times stored in Redis or tags, or compared with other
   processes' (the gateways' reports) */
uint64_t clock_unix_ms(void);

#endif /* SCALER_CLOCK_H */
