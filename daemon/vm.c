/* SPDX-License-Identifier: MIT */
/* daemon/vm.c - VM and vCPU slot bookkeeping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doorbell.h"
#include "vm.h"

/* A slot with no thread and no sampler handle yet. */
static void vcpu_init(struct pvs_vcpu *v, uint32_t index)
{
	memset(v, 0, sizeof(*v));
	v->index = index;
	v->slot = -1;
	pvs_vcpu_init(&v->track);
}

struct pvs_vm *pvs_vm_new(const char *name, enum pvs_vm_kind kind, const struct pvs_thread_id *proc)
{
	struct pvs_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->kind = kind;
	vm->proc = *proc;
	pvs_vm_init(&vm->track);
	pvs_boost_vm_init(&vm->boost);
	vm->boost_override = -1;
	vm->cs_override = -1;
	vm->boost_enabled_seen = -1;
	vm->migratable = -1;
	/* the main thread, boosted beside the vCPUs of a TCG VM */
	vcpu_init(&vm->timer, UINT32_MAX);
	vm->timer.id = *proc;
	vm->timer.id.tid = proc->pid;
	vm->timer.live = 1;
	return vm;
}

void pvs_vcpu_drop(struct pvs_vcpu *v)
{
	/* the sampler's close() has released its handles */
	v->live = 0;
	v->track.state = PVSCHED_VCPU_UNKNOWN;
}

void pvs_vm_free(struct pvs_vm *vm)
{
	if (!vm)
		return;
	for (uint32_t i = 0; i < vm->nr_vcpus; i++)
		pvs_vcpu_drop(&vm->vcpus[i]);
	pvs_doorbell_unbind(vm);
	pvs_hregion_close(&vm->region);
	free(vm->vcpus);
	free(vm);
}

struct pvs_vcpu *pvs_vm_slot(struct pvs_vm *vm, uint32_t index)
{
	if (index >= vm->cap_vcpus) {
		uint32_t cap = vm->cap_vcpus ? vm->cap_vcpus : 4;
		struct pvs_vcpu *n;

		while (cap <= index)
			cap *= 2;
		n = realloc(vm->vcpus, cap * sizeof(*n));
		if (!n)
			return NULL;
		for (uint32_t i = vm->cap_vcpus; i < cap; i++)
			vcpu_init(&n[i], i);
		vm->vcpus = n;
		vm->cap_vcpus = cap;
	}
	if (index >= vm->nr_vcpus)
		vm->nr_vcpus = index + 1;
	return &vm->vcpus[index];
}
