/* SPDX-License-Identifier: MIT */
/*
 * daemon/cgroup.h - a VM's CPU weight from its cgroup (docs/cosched.md §3):
 * libvirt's <cputune><shares> and systemd's CPUWeight= set it there, and
 * pvschedd takes it as the VM's default gang shares.  Read-only: pvschedd
 * never writes a cgroup file.
 *
 * cgroup v2: cpu.weight (1..10000, default 100); v1: cpu.shares
 * (2..262144, default 1024); both normalised to pvsched's shares scale
 * (default 1000) by pvs_cs_shares_from_cgroup().
 */
#ifndef PVSCHED_DAEMON_CGROUP_H
#define PVSCHED_DAEMON_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parsers (pure, unit-tested). */

/* From /proc/PID/cgroup text: the path of the v1 hierarchy that has the
 * "cpu" controller (*V1 = 1), else the v2 path ("0::/x", *V1 = 0).
 * 0, or -ENOENT when neither is there. */
int pvs_cgroup_parse_proc(const char *text, char *path, size_t len, int *v1);
/* From /proc/self/mountinfo text: the mount point of the v1 hierarchy with
 * the "cpu" controller (V1) or of cgroup2, and that mount's root (the
 * cgroup path it shows, "/" unless a namespace or bind mount).  0 or
 * -ENOENT. */
int pvs_cgroup_parse_mountinfo(const char *text, int v1, char *mnt, size_t mlen, char *root,
                               size_t rlen);
/* The VM's own cgroup from the process's: libvirt's per-thread children
 * (.../emulator, .../vcpuN, and v2's .../libvirt/) lead up to the VM's
 * scope.  Writes the path (may be "/").  0 or -ENAMETOOLONG. */
int pvs_cgroup_vm_path(const char *proc_path, char *out, size_t len);
/* A weight file's contents: one decimal integer and a newline.  0, or
 * -EINVAL (malformed) with nothing written. */
int pvs_cgroup_parse_value(const char *text, uint64_t *value);

struct pvs_daemon;
struct pvs_vm;

/* Re-read VM's cgroup weight (at most once a second per VM; NOW in ns):
 * sets vm->cg_shares (0: none) and vm->cg_file; one log line whenever what
 * it finds changes (a weight, an error naming the file, no own cgroup). */
void pvs_cgroup_update(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now);

#endif
