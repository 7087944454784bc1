/* SPDX-License-Identifier: MIT */
/*
 * tools/pvschedctl.c - operator tool for pvschedd: status, top, metrics,
 * attach/detach of process VMs, rescan, reload, boost and co-scheduling
 * policy, and `dump` to decode a region file offline.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "ctlclient.h"
#include "journal.h"
#include "top.h"

#define DEFAULT_SOCKET PVS_CTL_DEFAULT_SOCKET

static const char *sock_path = DEFAULT_SOCKET;

static void usage_main(FILE *f)
{
	fprintf(f,
	        "Usage: pvschedctl [-s SOCKET] COMMAND [ARGS]\n"
	        "Control and inspect pvschedd.\n"
	        "\n"
	        "Commands:\n"
	        "  status [--json]                          VMs and vCPUs: state, %%RUN, %%RDY, "
	        "preemptions/s\n"
	        "  top [-b] [-d SECONDS] [-n N] [-o FIELD]  live view: %%RUN %%RDY %%CSTP %%MLMTD "
	        "%%BOOST per vCPU\n"
	        "  metrics                                  the daemon's metrics, Prometheus text "
	        "format\n"
	        "  attach --pid PID --name NAME [--threads PATTERN]\n"
	        "                                           monitor a process VM\n"
	        "  detach NAME                              stop monitoring a process VM\n"
	        "  rescan                                   look for VMs and vCPU threads now\n"
	        "  reload                                   reload the daemon's configuration\n"
	        "  dump [--json] FILE                       decode a region file (no daemon "
	        "needed)\n"
	        "  reset [--journal PATH] [--force]         restore the threads pvschedd changed "
	        "(no daemon needed)\n"
	        "  boost on|off [VM]                        boosting for VM, or the default\n"
	        "  boost set VM [--max-ms N] [--budget-pct N]\n"
	        "                                           a VM's boost limits\n"
	        "  policy VM POLICY [--shares N]            co-scheduling: none, spread, "
	        "dedicated,\n"
	        "                                           gang, relaxed, or config (the "
	        "config's)\n"
	        "\n"
	        "Options:\n"
	        "  -s, --socket PATH   control socket (default %s, or $PVSCHED_SOCKET)\n"
	        "  -h, --help          this help; COMMAND --help for a command\n",
	        DEFAULT_SOCKET);
}

/* Send REQ (consumed) and report the daemon's verdict: 0 or 1. */
static int send_checked(struct json_object *req)
{
	struct json_object *r = pvs_ctl_request("pvschedctl", sock_path, req);
	int rc;

	json_object_put(req);
	if (!r)
		return 1;
	rc = pvs_ctl_check_ok("pvschedctl", r);
	json_object_put(r);
	return rc;
}

/* Ask the daemon {"cmd": CMD}; its reply if it says ok (caller puts it),
 * else NULL (the error reported). */
static struct json_object *ask(const char *cmd)
{
	struct json_object *req = json_object_new_object(), *r;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	r = pvs_ctl_request("pvschedctl", sock_path, req);
	json_object_put(req);
	if (r && pvs_ctl_check_ok("pvschedctl", r)) {
		json_object_put(r);
		r = NULL;
	}
	return r;
}

static int simple(const char *cmd)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return send_checked(req);
}

static int want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	struct json_object *r, *vms;
	int json = 0;

	if (want_help(argc, argv)) {
		printf("Usage: pvschedctl status [--json]\n"
		       "Per VM: region, preempted vCPUs now and smoothed, capacity left by\n"
		       "other host load, recommended parallelism.  Per vCPU: host thread id,\n"
		       "state, %%RUN (share of the last second on a CPU), %%RDY (share spent\n"
		       "runnable in a run queue, not running), PRE/s (involuntary switches\n"
		       "per second), BOOST (the vCPU's boost verdict: granted, throttled,\n"
		       "denied or -) and %%BOOST (share of the last second boosted).  --json\n"
		       "prints the daemon's status document.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else {
			fprintf(stderr, "pvschedctl status: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!(r = ask("status")))
		return 1;
	if (json) {
		printf("%s\n",
		       json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(r);
		return 0;
	}
	vms = pvs_json_get(r, "vms");
	if (!vms || json_object_array_length(vms) == 0)
		printf("no VMs monitored\n");
	for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i),
		                   *vc = pvs_json_get(vm, "vcpus");

		printf("VM %s (%s, pid %d)  region %s: %s\n",
		       json_object_get_string(pvs_json_get(vm, "name")),
		       json_object_get_string(pvs_json_get(vm, "kind")),
		       json_object_get_int(pvs_json_get(vm, "pid")),
		       json_object_get_string(pvs_json_get(vm, "region")),
		       json_object_get_boolean(pvs_json_get(vm, "region_ok"))
		               ? "published"
		               : json_object_get_string(pvs_json_get(vm, "region_error")));
		printf("  preempted now %d  avg %.2f  capacity %.2f/%d pCPUs  advice %d threads\n",
		       json_object_get_int(pvs_json_get(vm, "preempted_now")),
		       json_object_get_double(pvs_json_get(vm, "preempted_avg")),
		       json_object_get_double(pvs_json_get(vm, "capacity")),
		       json_object_get_int(pvs_json_get(vm, "host_cpus")),
		       json_object_get_int(pvs_json_get(vm, "recommended_dop")));
		{
			struct json_object *b = pvs_json_get(vm, "boost");
			if (b && json_object_get_boolean(pvs_json_get(b, "enabled")))
				printf("  boost on: at most %d ms at a time, %d%% of a pCPU per %d "
				       "ms\n",
				       json_object_get_int(pvs_json_get(b, "max_ms")),
				       json_object_get_int(pvs_json_get(b, "budget_pct")),
				       json_object_get_int(pvs_json_get(b, "window_ms")));
		}
		{
			const char *pol = json_object_get_string(pvs_json_get(vm, "policy"));
			const char *cpus = json_object_get_string(pvs_json_get(vm, "cpus"));
			if (pol && strcmp(pol, "none"))
				printf("  co-scheduling %s, shares %lld%s%s\n", pol,
				       (long long)json_object_get_int64(pvs_json_get(vm, "shares")),
				       cpus && *cpus ? ", placed on CPUs " : "",
				       cpus && *cpus ? cpus : "");
		}
		printf("  %4s %8s %-10s %6s %6s %7s %-9s %6s\n", "VCPU", "TID", "STATE", "%RUN",
		       "%RDY", "PRE/s", "BOOST", "%BOOST");
		for (size_t k = 0; vc && k < json_object_array_length(vc); k++) {
			struct json_object *v = json_object_array_get_idx(vc, k);
			const char *bs = json_object_get_string(pvs_json_get(v, "boost"));
			printf("  %4d %8d %-10s %6.1f %6.1f %7d %-9s %6.1f\n",
			       json_object_get_int(pvs_json_get(v, "index")),
			       json_object_get_int(pvs_json_get(v, "tid")),
			       json_object_get_string(pvs_json_get(v, "state")),
			       json_object_get_double(pvs_json_get(v, "run_pct")),
			       json_object_get_double(pvs_json_get(v, "rdy_pct")),
			       json_object_get_int(pvs_json_get(v, "preempt_per_s")),
			       bs && strcmp(bs, "none") ? bs : "-",
			       json_object_get_double(pvs_json_get(v, "boost_pct")));
		}
	}
	json_object_put(r);
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option o[] = {{"pid", required_argument, NULL, 'p'},
	                                  {"name", required_argument, NULL, 'n'},
	                                  {"threads", required_argument, NULL, 't'},
	                                  {"help", no_argument, NULL, 'h'},
	                                  {NULL, 0, NULL, 0}};
	const char *name = NULL, *threads = NULL;
	long pid = 0;
	int opt;
	struct json_object *req;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:n:t:h", o, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0) {
				fprintf(stderr, "pvschedctl attach: bad pid '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n': name = optarg; break;
		case 't': threads = optarg; break;
		case 'h':
			printf("Usage: pvschedctl attach --pid PID --name NAME [--threads "
			       "PATTERN]\n"
			       "Monitor process PID as a VM named NAME: its threads whose names "
			       "match\n"
			       "the glob PATTERN (default: all but the main thread) are its vCPUs, "
			       "in\n"
			       "order of creation.  The region is REGION_DIR/pvsched-NAME.\n");
			return 0;
		default: return 2;
		}
	}
	if (!pid || !name) {
		fprintf(stderr, "pvschedctl attach: --pid and --name are required\n");
		return 2;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("attach"));
	json_object_object_add(req, "pid", json_object_new_int64(pid));
	json_object_object_add(req, "name", json_object_new_string(name));
	if (threads)
		json_object_object_add(req, "threads", json_object_new_string(threads));
	return send_checked(req);
}

static int cmd_detach(int argc, char **argv)
{
	struct json_object *req;

	if (want_help(argc, argv)) {
		printf("Usage: pvschedctl detach NAME\n"
		       "Stop monitoring the process VM NAME (attached with pvschedctl attach).\n"
		       "Its region is marked detached; the file stays.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "pvschedctl detach: expected one VM name\n");
		return 2;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("detach"));
	json_object_object_add(req, "name", json_object_new_string(argv[1]));
	return send_checked(req);
}

static const char *host_state_str(uint32_t s)
{
	switch (s) {
	case PVSCHED_HOST_NONE: return "none";
	case PVSCHED_HOST_ACTIVE: return "active";
	case PVSCHED_HOST_DETACHED: return "detached";
	default: return "invalid";
	}
}

static int cmd_dump(int argc, char **argv)
{
	const struct pvsched_header *h;
	enum pvsched_verr why;
	struct stat st;
	const char *path = NULL;
	int fd, rc, json = 0;
	void *mem;
	size_t len;
	char name[33] = {0};

	if (want_help(argc, argv)) {
		printf("Usage: pvschedctl dump [--json] FILE\n"
		       "Decode a pvsched region file (e.g. /dev/shm/pvsched-NAME): header,\n"
		       "validation verdict, per-VM values and every vCPU slot in use.\n"
		       "Reads the file only; works without pvschedd.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!path)
			path = argv[i];
		else {
			fprintf(stderr, "pvschedctl dump: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "pvschedctl dump: FILE is required\n");
		return 2;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "pvschedctl dump: %s: %s\n", path, strerror(errno));
		return 1;
	}
	len = (size_t)st.st_size;
	if (len < PVSCHED_HEADER_SIZE) {
		fprintf(stderr, "pvschedctl dump: %s: %zu bytes, smaller than a region header\n",
		        path, len);
		close(fd);
		return 1;
	}
	mem = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "pvschedctl dump: %s: mmap: %s\n", path, strerror(errno));
		return 1;
	}
	h = mem;
	memcpy(name, h->vm_name, sizeof(h->vm_name));
	rc = pvsched_region_validate(mem, len, &why);
	if (json) {
		struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
		json_object_object_add(o, "file", json_object_new_string(path));
		json_object_object_add(o, "valid", json_object_new_boolean(rc == 0));
		json_object_object_add(o, "verdict", json_object_new_string(pvsched_verr_str(why)));
		json_object_object_add(o, "major", json_object_new_int(h->major));
		json_object_object_add(o, "minor", json_object_new_int(h->minor));
		json_object_object_add(o, "vm_name", json_object_new_string(name));
		json_object_object_add(o, "host_state",
		                       json_object_new_string(host_state_str(h->host_state)));
		json_object_object_add(o, "heartbeat",
		                       json_object_new_int64((int64_t)h->heartbeat));
		json_object_object_add(o, "nr_vcpus", json_object_new_int((int)h->nr_vcpus));
		if (rc == 0) {
			const struct pvsched_vm *vm =
			        (const void *)((const char *)mem + h->vm_offset);
			json_object_object_add(o, "preempted_now",
			                       json_object_new_int((int)vm->preempted_now));
			json_object_object_add(o, "preempted_avg_milli",
			                       json_object_new_int((int)vm->preempted_avg_milli));
			json_object_object_add(o, "capacity_milli",
			                       json_object_new_int((int)vm->capacity_milli));
			json_object_object_add(o, "recommended_dop",
			                       json_object_new_int((int)vm->recommended_dop));
			for (uint32_t i = 0; i < h->nr_vcpus; i++) {
				const struct pvsched_vcpu *v =
				        (const void *)((const char *)mem + h->vcpu_offset +
				                       (size_t)i * h->vcpu_stride);
				struct json_object *x = json_object_new_object();
				json_object_object_add(
				        x, "state",
				        json_object_new_string(
				                pvsched_vcpu_state_str(v->host.state)));
				json_object_object_add(
				        x, "run_ns",
				        json_object_new_int64((int64_t)v->host.run_ns));
				json_object_object_add(
				        x, "wait_ns",
				        json_object_new_int64((int64_t)v->host.wait_ns));
				json_object_object_add(
				        x, "preemptions",
				        json_object_new_int64((int64_t)v->host.preemptions));
				json_object_object_add(x, "boost_req",
				                       json_object_new_int64(v->guest.boost_req));
				json_object_array_add(arr, x);
			}
		}
		json_object_object_add(o, "vcpus", arr);
		printf("%s\n",
		       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		munmap(mem, len);
		return rc == 0 ? 0 : 1;
	}
	printf("file            %s (%zu bytes)\n", path, len);
	printf("verdict         %s%s%s\n",
	       rc == 0 ? "valid" : "INVALID: ", rc == 0 ? "" : pvsched_verr_str(why), "");
	printf("magic           0x%016llx%s\n", (unsigned long long)h->magic,
	       h->magic == PVSCHED_MAGIC ? " (PVSCHED)" : "");
	printf("version         %u.%u  header_size %u  region_size %llu\n", h->major, h->minor,
	       h->header_size, (unsigned long long)h->region_size);
	printf("host_features   0x%llx  guest_features 0x%llx  guest ABI %u.%u\n",
	       (unsigned long long)h->host_features, (unsigned long long)h->guest_features,
	       h->guest_major, h->guest_minor);
	printf("vm_name         %s\n", name);
	printf("vcpus           %u in use, %u fit (offset %u, stride %u)\n", h->nr_vcpus,
	       h->max_vcpus, h->vcpu_offset, h->vcpu_stride);
	printf("host_state      %s  heartbeat %llu  host_time %.3f s  period %u us  stale after %u "
	       "us\n",
	       host_state_str(h->host_state), (unsigned long long)h->heartbeat,
	       h->host_time_ns / 1e9, h->publish_period_us, h->stale_after_us);
	if (rc == 0) {
		const struct pvsched_vm *vm = (const void *)((const char *)mem + h->vm_offset);
		printf("vm              preempted now %u  avg %.3f  capacity %.3f  advice %u  "
		       "running %u idle %u  window %u us  host cpus %u\n",
		       vm->preempted_now, vm->preempted_avg_milli / 1000.0,
		       vm->capacity_milli / 1000.0, vm->recommended_dop, vm->running_now,
		       vm->idle_now, vm->window_us, vm->host_cpus);
		printf("%5s %-10s %14s %14s %10s %6s %6s %9s\n", "VCPU", "STATE", "RUN_NS",
		       "WAIT_NS", "PREEMPT", "RUN%", "WAIT%", "BOOST_REQ");
		for (uint32_t i = 0; i < h->nr_vcpus && i < h->max_vcpus; i++) {
			const struct pvsched_vcpu *v =
			        (const void *)((const char *)mem + h->vcpu_offset +
			                       (size_t)i * h->vcpu_stride);
			printf("%5u %-10s %14llu %14llu %10llu %6.1f %6.1f %9u\n", i,
			       pvsched_vcpu_state_str(v->host.state),
			       (unsigned long long)v->host.run_ns,
			       (unsigned long long)v->host.wait_ns,
			       (unsigned long long)v->host.preemptions, v->host.run_milli / 10.0,
			       v->host.wait_milli / 10.0, v->guest.boost_req);
		}
	}
	munmap(mem, len);
	return rc == 0 ? 0 : 1;
}

static void reset_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= PVS_JLOG_ERR)
		fprintf(stderr, "pvschedctl reset: %s\n", msg);
	else if (level <= PVS_JLOG_INFO)
		printf("%s\n", msg);
}

static int parse_limit(const char *opt, const char *v, long min, long max, long *out)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		fprintf(stderr, "pvschedctl boost: %s '%s': expected %ld..%ld\n", opt, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

static int cmd_boost(int argc, char **argv)
{
	static const char usage[] =
	        "Usage: pvschedctl boost on|off [VM]\n"
	        "       pvschedctl boost set VM [--max-ms N] [--budget-pct N]\n"
	        "Turn boosting on or off for VM (for the life of the VM), or, without\n"
	        "VM, the default for every VM without its own setting (until the next\n"
	        "reload).  'set' changes VM's limits: the longest continuous boost\n"
	        "(1..10000 ms) and its budget (1..100 %% of one pCPU per window).\n"
	        "See docs/boost.md.\n";
	struct json_object *req;

	if (want_help(argc, argv) || argc < 2) {
		if (argc < 2) {
			fputs(usage, stderr);
			return 2;
		}
		fputs(usage, stdout);
		return 0;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("boost"));
	if (!strcmp(argv[1], "on") || !strcmp(argv[1], "off")) {
		if (argc > 3) {
			fprintf(stderr, "pvschedctl boost: unexpected argument '%s'\n", argv[3]);
			json_object_put(req);
			return 2;
		}
		json_object_object_add(req, "enable", json_object_new_boolean(argv[1][1] == 'n'));
		if (argc == 3)
			json_object_object_add(req, "name", json_object_new_string(argv[2]));
	} else if (!strcmp(argv[1], "set")) {
		long v;
		int any = 0;

		if (argc < 3 || argv[2][0] == '-') {
			fprintf(stderr, "pvschedctl boost set: which VM?\n");
			json_object_put(req);
			return 2;
		}
		json_object_object_add(req, "name", json_object_new_string(argv[2]));
		for (int i = 3; i < argc; i += 2) { /* option, value */
			const char *key = !strcmp(argv[i], "--max-ms")       ? "max_ms"
			                  : !strcmp(argv[i], "--budget-pct") ? "budget_pct"
			                                                     : NULL;
			if (!key || i + 1 >= argc) {
				fprintf(stderr, "pvschedctl boost set: %s '%s'\n",
				        key ? "missing value after" : "unknown option", argv[i]);
				json_object_put(req);
				return 2;
			}
			if (parse_limit(argv[i], argv[i + 1], 1, key[0] == 'm' ? 10000 : 100, &v)) {
				json_object_put(req);
				return 2;
			}
			json_object_object_add(req, key, json_object_new_int64(v));
			any = 1;
		}
		if (!any) {
			fprintf(stderr, "pvschedctl boost set: nothing to set (--max-ms, "
			                "--budget-pct)\n");
			json_object_put(req);
			return 2;
		}
	} else {
		fprintf(stderr, "pvschedctl boost: '%s': expected on, off or set\n", argv[1]);
		json_object_put(req);
		return 2;
	}
	return send_checked(req);
}

static int cmd_metrics(int argc, char **argv)
{
	struct json_object *r, *text;

	if (want_help(argc, argv)) {
		printf("Usage: pvschedctl metrics\n"
		       "Print pvschedd's metrics in the Prometheus text exposition format\n"
		       "(0.0.4): per vCPU run, ready (%%RDY), co-stop (%%CSTP), limited\n"
		       "(%%MLMTD) and boost seconds, per VM capacity, advice, policy and\n"
		       "shares, and the daemon's own counters.  The same text the daemon\n"
		       "writes to metrics_file for node_exporter's textfile collector.\n"
		       "See docs/metrics.md.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "pvschedctl metrics: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	if (!(r = ask("metrics")))
		return 1;
	text = pvs_json_get(r, "text");
	if (!text || !json_object_is_type(text, json_type_string)) {
		fprintf(stderr, "pvschedctl: the daemon's reply has no metrics text\n");
		json_object_put(r);
		return 1;
	}
	fwrite(json_object_get_string(text), 1, (size_t)json_object_get_string_len(text), stdout);
	json_object_put(r);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_policy(int argc, char **argv)
{
	static const char usage[] =
	        "Usage: pvschedctl policy VM POLICY [--shares N]\n"
	        "       pvschedctl policy VM --shares N\n"
	        "Set VM's co-scheduling policy, for the life of the VM:\n"
	        "  none       leave its vCPU threads to the host scheduler\n"
	        "  spread     place its vCPUs on different host CPUs\n"
	        "  dedicated  give each vCPU a host CPU no other placed VM uses\n"
	        "  gang       spread, and run its vCPUs together in time slices\n"
	        "  relaxed    spread, and co-stop a vCPU that runs ahead of its siblings\n"
	        "  config     back to the configuration's policy\n"
	        "--shares N (1..1000000) weighs the VM against the other gang VMs.\n"
	        "See docs/cosched.md.\n";
	static const char *const names[] = {"none", "spread",  "dedicated",
	                                    "gang", "relaxed", "config"};
	struct json_object *req, *r;
	const char *vm = NULL, *pol = NULL;
	long shares = 0;
	int rc;

	if (want_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--shares") || !strncmp(argv[i], "--shares=", 9)) {
			const char *v = argv[i][8] == '=' ? argv[i] + 9
			                : i + 1 < argc    ? argv[++i]
			                                  : NULL;
			char *end;

			if (!v) {
				fprintf(stderr,
				        "pvschedctl policy: missing value after --shares\n");
				return 2;
			}
			errno = 0;
			shares = strtol(v, &end, 10);
			if (errno || end == v || *end || shares < 1 || shares > 1000000) {
				fprintf(stderr,
				        "pvschedctl policy: --shares '%s': expected 1..1000000\n",
				        v);
				return 2;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "pvschedctl policy: unknown option '%s'\n", argv[i]);
			return 2;
		} else if (!vm) {
			vm = argv[i];
		} else if (!pol) {
			size_t k;

			pol = argv[i];
			for (k = 0; k < sizeof(names) / sizeof(names[0]) && strcmp(pol, names[k]);
			     k++)
				;
			if (k == sizeof(names) / sizeof(names[0])) {
				fprintf(stderr,
				        "pvschedctl policy: unknown policy '%s': expected none, "
				        "spread, dedicated, gang, relaxed or config\n",
				        pol);
				return 2;
			}
		} else {
			fprintf(stderr, "pvschedctl policy: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!vm || (!pol && !shares)) {
		fputs(usage, stderr);
		return 2;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("policy"));
	json_object_object_add(req, "vm", json_object_new_string(vm));
	if (pol)
		json_object_object_add(req, "policy", json_object_new_string(pol));
	if (shares)
		json_object_object_add(req, "shares", json_object_new_int64(shares));
	r = pvs_ctl_request("pvschedctl", sock_path, req);
	json_object_put(req);
	if (!r)
		return 1;
	rc = pvs_ctl_check_ok("pvschedctl", r);
	if (!rc && pvs_json_get(r, "policy"))
		printf("%s: policy %s, shares %lld\n",
		       json_object_get_string(pvs_json_get(r, "vm")),
		       json_object_get_string(pvs_json_get(r, "policy")),
		       (long long)json_object_get_int64(pvs_json_get(r, "shares")));
	json_object_put(r);
	return rc;
}

static int cmd_reset(int argc, char **argv)
{
	static const struct option o[] = {{"journal", required_argument, NULL, 'j'},
	                                  {"force", no_argument, NULL, 'f'},
	                                  {"help", no_argument, NULL, 'h'},
	                                  {NULL, 0, NULL, 0}};
	const char *path = PVS_JOURNAL_DEFAULT_PATH;
	struct pvs_journal_stats st;
	unsigned flags = 0;
	char err[512];
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "j:fh", o, NULL)) != -1) {
		switch (opt) {
		case 'j': path = optarg; break;
		case 'f': flags |= PVS_JOURNAL_FORCE; break;
		case 'h':
			printf("Usage: pvschedctl reset [--journal PATH] [--force]\n"
			       "Give every thread listed in pvschedd's journal (default\n"
			       "%s) its original scheduling attributes\n"
			       "back, as pvschedd does when it starts after being killed.\n"
			       "Threads that exited, or whose thread ID now belongs to\n"
			       "another thread, are skipped.  Works without pvschedd;\n"
			       "refused while pvschedd holds the journal, unless --force\n"
			       "(which restores the threads and leaves the file to the\n"
			       "daemon).\n",
			       PVS_JOURNAL_DEFAULT_PATH);
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvschedctl reset: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	rc = pvs_journal_recover(path, flags, reset_log, NULL, &st, err, sizeof(err));
	if (rc && err[0])
		fprintf(stderr, "pvschedctl reset: %s\n", err);
	if (!rc || rc == -EIO)
		printf("restored %u thread(s); skipped %u gone, %u with a reused thread ID, %u "
		       "now SCHED_DEADLINE; %u failed; %u bad line(s)\n",
		       st.restored, st.gone, st.reused, st.deadline, st.failed, st.bad);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option o[] = {{"socket", required_argument, NULL, 's'},
	                                  {"help", no_argument, NULL, 'h'},
	                                  {NULL, 0, NULL, 0}};
	const char *env = getenv("PVSCHED_SOCKET");
	const char *cmd;
	int opt;

	if (env && *env)
		sock_path = env;
	while ((opt = getopt_long(argc, argv, "+s:h", o, NULL)) != -1) {
		switch (opt) {
		case 's': sock_path = optarg; break;
		case 'h': usage_main(stdout); return 0;
		default: usage_main(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage_main(stderr);
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	if (!strcmp(cmd, "attach"))
		return cmd_attach(argc, argv);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(argc, argv);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc, argv);
	if (!strcmp(cmd, "reset"))
		return cmd_reset(argc, argv);
	if (!strcmp(cmd, "boost"))
		return cmd_boost(argc, argv);
	if (!strcmp(cmd, "policy"))
		return cmd_policy(argc, argv);
	if (!strcmp(cmd, "metrics"))
		return cmd_metrics(argc, argv);
	if (!strcmp(cmd, "top"))
		return pvs_top_main(sock_path, argc, argv);
	if (!strcmp(cmd, "rescan") || !strcmp(cmd, "reload")) {
		if (want_help(argc, argv)) {
			printf("Usage: pvschedctl %s\n%s\n", cmd,
			       !strcmp(cmd, "rescan")
			               ? "Ask pvschedd to look for VMs and vCPU threads now."
			               : "Ask pvschedd to reload its configuration (like SIGHUP); "
			                 "a bad\n"
			                 "file is reported in the daemon's log and the old one "
			                 "kept.");
			return 0;
		}
		return simple(cmd);
	}
	if (!strcmp(cmd, "help")) {
		usage_main(stdout);
		return 0;
	}
	fprintf(stderr, "pvschedctl: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
