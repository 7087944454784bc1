/* SPDX-License-Identifier: MIT */
/* daemon/sampler.c - the registry of built-in samplers and "auto" choice. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sampler.h"

#ifdef PVSCHED_HAVE_BPF
extern const struct pvs_sampler_ops pvs_sampler_bpf;
#endif

/* In order of preference for "auto". */
static const struct pvs_sampler_ops *const samplers[] = {
#ifdef PVSCHED_HAVE_BPF
        &pvs_sampler_bpf,
#endif
        &pvs_sampler_procfs,
};

const struct pvs_sampler_ops *pvs_sampler_find(const char *name)
{
	for (size_t i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++)
		if (!strcmp(samplers[i]->name, name))
			return samplers[i];
	return NULL;
}

static int start(const struct pvs_sampler_ops *s, char *err, size_t errlen)
{
	return s->init ? s->init(err, errlen) : 0;
}

const struct pvs_sampler_ops *pvs_sampler_start(const char *name, char *err, size_t errlen)
{
	const struct pvs_sampler_ops *s;

	if (strcmp(name, "auto")) {
		s = pvs_sampler_find(name);
		if (!s) {
			snprintf(err, errlen, "sampler '%s' is not built in", name);
			return NULL;
		}
		return start(s, err, errlen) < 0 ? NULL : s;
	}
	for (size_t i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++) {
		char why[256] = "";
		if (start(samplers[i], why, sizeof(why)) == 0)
			return samplers[i];
		log_info("sampler %s unavailable (%s); trying the next", samplers[i]->name, why);
	}
	snprintf(err, errlen, "no sampler could start");
	return NULL;
}
