/* backends.c - the registry of kernels/<k>/ backends, chosen at run time. */
#include <string.h>

#include "roof_host.h"

extern const struct roof_backend_ops roof_backend_kvm;

static const struct roof_backend_ops *const backends[] = {
	&roof_backend_kvm,
};

const struct roof_backend_ops *roof_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const char *roof_backend_names(void)
{
	static char names[128];
	if (!names[0]) {
		for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
			if (i)
				strncat(names, ", ", sizeof names - strlen(names) - 1);
			strncat(names, backends[i]->name,
				sizeof names - strlen(names) - 1);
		}
	}
	return names;
}
