/* SPDX-License-Identifier: MIT */
/*
 * daemon/qemu_args.h - what a QEMU command line says about a VM: its name,
 * its pvsched region, whether its pvsched device lets it live-migrate and
 * whether it is waiting for an incoming migration.  ARGS is the contents of
 * /proc/PID/cmdline: LEN bytes of NUL-separated arguments.  Both of QEMU's
 * option syntaxes are read: "key=value,..." (",," is a comma; a first
 * option without '=' is the implied key: qom-type, driver, the guest name)
 * and the JSON form libvirt uses for -object and -device.
 */
#ifndef PVSCHED_DAEMON_QEMU_ARGS_H
#define PVSCHED_DAEMON_QEMU_ARGS_H

#include <stddef.h>

/* The VM name: "-name guest=X,..." or "-name X,...".  0 or -ENOENT. */
int pvs_qemu_name(const char *args, size_t len, char *name, size_t namelen);
/* The mem-path of a memory backend whose file name starts with "pvsched".
 * 0, or -ENOENT (none, or longer than PATHLEN). */
int pvs_qemu_region_path(const char *args, size_t len, char *path, size_t pathlen);

/* The ivshmem device that maps REGION_PATH and the migration state. */
struct pvs_qemu_dev {
	int incoming;    /* -incoming given: QEMU waits for a migration stream */
	int found;       /* an ivshmem device uses the region's memory backend */
	int master;      /* its "master": 1 on, 0 off (QEMU's default, "peer
	                    mode": migration is refused), -1 auto/unreadable */
	char driver[32]; /* "ivshmem-plain", "ivshmem-doorbell", ... */
	char memdev[64]; /* the memory backend's id */
};
/* Fill OUT (zeroed first; master = 0 when no device is found).  Never
 * fails: what cannot be read is reported as not found. */
void pvs_qemu_dev(const char *args, size_t len, const char *region_path, struct pvs_qemu_dev *out);
/* The same for an ivshmem-doorbell device whose -chardev socket's path is
 * SOCK_PATH (pvschedd's ivshmem server); memdev holds the chardev's id.
 * Its master=auto counts as on: the server gives every QEMU peer id 0. */
void pvs_qemu_doorbell_dev(const char *args, size_t len, const char *sock_path,
                           struct pvs_qemu_dev *out);

#endif
