/* roof_live.h - internal helpers of the Linux host (not for backends). */
#ifndef ROOF_LIVE_H
#define ROOF_LIVE_H

#include <stdbool.h>

enum roof_live_kind { ROOF_LIVE_VM = 1, ROOF_LIVE_EP, ROOF_LIVE_VCPU };

int roof_live_add(const void *ptr, int kind);
void roof_live_remove(const void *ptr);
bool roof_live_check(const void *ptr, int kind);

int roof_thread_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int roof_ep_fail(struct roof_ep *ep, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Entrypoint internals used by the vCPU code. */
void roof_ep_enqueue(struct roof_ep *ep, struct roof_ep_work *w);
void roof_ep_destroy(struct roof_ep *ep);
void roof_vcpu_destroy(struct roof_vcpu *v);

#endif
