/* SPDX-License-Identifier: MIT */
/* daemon/control.h - the control socket (UNIX stream, mode 0660, JSON). */
#ifndef PVSCHED_DAEMON_CONTROL_H
#define PVSCHED_DAEMON_CONTROL_H

#include <stdint.h>

#include "daemon.h"

struct pvs_control;

/* Bind PATH (replacing a stale socket, refusing a live one).  */
struct pvs_control *pvs_control_open(const char *path, gid_t gid, int epfd, char *err,
                                     size_t errlen);
void pvs_control_close(struct pvs_control *c);
/* Handle an epoll event whose data.ptr was handed out by this module. */
void pvs_control_event(struct pvs_control *c, void *tag, uint32_t events, struct pvs_daemon *d);
/* Is TAG one of ours? */
int pvs_control_owns(struct pvs_control *c, void *tag);
/* Close clients past their deadline (call about once a second). */
void pvs_control_reap(struct pvs_control *c);
/* Set by a "reload" request; the main loop acts on it. */
int pvs_control_take_reload(struct pvs_control *c);

#endif
