/* SPDX-License-Identifier: MIT */
/*
 * tools/top.h - `pvschedctl top`: a live, esxtop-like view of pvschedd's
 * VMs and vCPUs (%RUN, %RDY, %CSTP, %MLMTD, %BOOST, layer, placement).
 */
#ifndef PVSCHED_TOOLS_TOP_H
#define PVSCHED_TOOLS_TOP_H

/* ARGV[0] is "top"; the daemon is at SOCK_PATH.  Returns the exit status
 * (0, 1 when the daemon cannot be asked in batch mode, 2 on bad usage). */
int pvs_top_main(const char *sock_path, int argc, char **argv);

#endif
