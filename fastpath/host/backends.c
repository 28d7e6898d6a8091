/*
 * backends.c - the registry of kernels/<k>/ backends, chosen at run time
 * (roof_vm_open's name, or $ROOF_KERNEL). Each backend defines its
 * roof_backend_<name>; the model kernels are weak references so that a
 * build without one still links and lists what it has.
 */
#include <pthread.h>
#include <string.h>

#include "roof_host.h"

extern const struct roof_backend_ops roof_backend_kvm;
extern const struct roof_backend_ops roof_backend_nova __attribute__((weak));
extern const struct roof_backend_ops roof_backend_sel4 __attribute__((weak));
extern const struct roof_backend_ops roof_backend_foc __attribute__((weak));
extern const struct roof_backend_ops roof_backend_hw __attribute__((weak));

/* Backends registered at run time (roof_backend_register): tests add a
 * reference VMX client this way without it being part of the library. */
#define MAX_EXTRA 4
static const struct roof_backend_ops *extra[MAX_EXTRA];
/* Guards extra[] and the names list: any thread may open a VM. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned registered; /* registrations so far */

int roof_backend_register(const struct roof_backend_ops *ops)
{
	if (!ops || !ops->name)
		return ROOF_EINVAL;
	int rc = ROOF_ERANGE;
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < MAX_EXTRA && rc != ROOF_OK; i++) {
		if (!extra[i]) {
			extra[i] = ops;
			registered++;
			rc = ROOF_OK;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

static const struct roof_backend_ops *backend_at(size_t i)
{
	if (i >= 5)
		return i - 5 < MAX_EXTRA ? extra[i - 5] : NULL;
	switch (i) {
	case 0: return &roof_backend_kvm;
	case 1: return &roof_backend_nova;
	case 2: return &roof_backend_sel4;
	case 3: return &roof_backend_foc;
	case 4: return &roof_backend_hw;
	default: return NULL;
	}
}
#define NBACKENDS (5 + MAX_EXTRA)

const struct roof_backend_ops *roof_backend_find(const char *name)
{
	const struct roof_backend_ops *found = NULL;
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < NBACKENDS && !found; i++) {
		const struct roof_backend_ops *b = backend_at(i);
		if (b && strcmp(b->name, name) == 0)
			found = b;
	}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

/* Built again only after a registration, so a caller still reading the
 * list it got is not written under (roof_vm_open's error text reads it). */
const char *roof_backend_names(void)
{
	static char names[160];
	static unsigned built_for = ~0u;
	pthread_mutex_lock(&registry_lock);
	if (built_for != registered) {
		names[0] = 0;
		for (size_t i = 0; i < NBACKENDS; i++) {
			const struct roof_backend_ops *b = backend_at(i);
			if (!b)
				continue;
			if (names[0])
				strncat(names, ", ", sizeof names - strlen(names) - 1);
			strncat(names, b->name, sizeof names - strlen(names) - 1);
		}
		built_for = registered;
	}
	pthread_mutex_unlock(&registry_lock);
	return names;
}
