/* SPDX-License-Identifier: MIT */
/* daemon/log.h - pvschedd's logging: one line per event on stderr. */
#ifndef PVSCHED_DAEMON_LOG_H
#define PVSCHED_DAEMON_LOG_H

enum { PVS_LOG_ERR = 3, PVS_LOG_WARN = 4, PVS_LOG_INFO = 6, PVS_LOG_DEBUG = 7 };

void pvs_log_set_level(int level);
void pvs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   pvs_log(PVS_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  pvs_log(PVS_LOG_WARN, __VA_ARGS__)
#define log_info(...)  pvs_log(PVS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) pvs_log(PVS_LOG_DEBUG, __VA_ARGS__)

#endif
