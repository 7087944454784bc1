/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/abi_pedantic.c - <pvsched/abi.h> alone, compiled as strict
 * ISO C11 (-std=c11 -pedantic -Werror, see meson.build): the public ABI
 * header must need nothing but itself and the C library's <stddef.h> and
 * <stdint.h>.  Linked into test_abi, which compares its view of the layout
 * with the one seen from the regular build flags.
 */
#include <pvsched/abi.h>

size_t pvs_abi_pedantic_sizes(size_t out[4]);

size_t pvs_abi_pedantic_sizes(size_t out[4])
{
	out[0] = sizeof(struct pvsched_header);
	out[1] = sizeof(struct pvsched_vm);
	out[2] = sizeof(struct pvsched_vcpu);
	out[3] = offsetof(struct pvsched_vcpu, guest);
	return 4;
}
