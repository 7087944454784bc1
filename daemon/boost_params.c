/* SPDX-License-Identifier: MIT */
/*
 * daemon/boost_params.c - the boost limits in force for one VM: pvschedctl
 * overrides, else its [vm NAME] section, else [daemon].
 */
#include "boostd.h"

int pvs_boost_vm_enabled(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	const struct pvs_config_vm *c;

	if (!d->journal)
		return 0; /* no way to guarantee restoring: never boost */
	if (vm->boost_override >= 0)
		return vm->boost_override;
	c = pvs_vm_conf(d->cfg, vm);
	if (c && c->boost >= 0)
		return c->boost;
	return d->cfg->boost.enabled;
}

void pvs_boost_params(const struct pvs_daemon *d, const struct pvs_vm *vm,
                      struct pvs_boost_params *p)
{
	const struct pvs_boost_config *b = &d->cfg->boost;
	const struct pvs_config_vm *c = pvs_vm_conf(d->cfg, vm);
	uint32_t max_ms = vm->boost_max_ms       ? vm->boost_max_ms
	                  : c && c->boost_max_ms ? c->boost_max_ms
	                                         : b->max_ms;
	uint32_t pct = vm->boost_budget_pct       ? vm->boost_budget_pct
	               : c && c->boost_budget_pct ? c->boost_budget_pct
	                                          : b->budget_pct;

	p->enabled = pvs_boost_vm_enabled(d, vm);
	p->max_ns = (uint64_t)max_ms * 1000000u;
	p->window_ns = (uint64_t)b->window_ms * 1000000u;
	p->budget_ns = p->window_ns / 100u * pct;
	p->lead_ns = (uint64_t)b->lead_us * 1000u;
	p->hold_ns = (uint64_t)b->hold_us * 1000u;
	p->linger_ns = (uint64_t)b->linger_us * 1000u;
	p->max_changes = b->max_changes;
}
