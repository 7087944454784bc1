/* SPDX-License-Identifier: MIT */
/*
 * daemon/qemu_args.c - read a QEMU command line (see qemu_args.h).
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "qemu_args.h"

/* Next argument after P in a NUL-separated list, or NULL. */
static const char *next_arg(const char *p, const char *end)
{
	p += strnlen(p, (size_t)(end - p)) + 1;
	return p < end ? p : NULL;
}

/* Copy a QEMU option value up to an unescaped ',' (",," is a comma). */
static void copy_opt(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *v && o + 1 < outlen; v++) {
		if (*v == ',') {
			if (v[1] != ',')
				break;
			v++;
		}
		out[o++] = *v;
	}
	out[o] = 0;
}

int pvs_qemu_name(const char *args, size_t len, char *name, size_t namelen)
{
	const char *end = args + len, *p;

	if (!len || !namelen)
		return -ENOENT;
	for (p = args; p; p = next_arg(p, end)) {
		const char *v;

		if (strcmp(p, "-name") && strcmp(p, "--name"))
			continue;
		v = next_arg(p, end);
		if (!v || !*v)
			return -ENOENT;
		/* "X,debug-threads=on": a first option without '=' is the name
		 * (QEMU's implied "guest" key); otherwise look for guest= */
		{
			const char *o = v;
			while (*o && *o != '=' && !(*o == ',' && o[1] != ','))
				o += (*o == ',' ? 2 : 1);
			if (*o != '=') {
				copy_opt(v, name, namelen);
				return name[0] ? 0 : -ENOENT;
			}
		}
		for (const char *o = v; o && *o;) {
			if (!strncmp(o, "guest=", 6)) {
				copy_opt(o + 6, name, namelen);
				return name[0] ? 0 : -ENOENT;
			}
			/* skip to the next unescaped comma */
			while (*o && !(*o == ',' && o[1] != ',')) {
				if (*o == ',' && o[1] == ',')
					o++;
				o++;
			}
			if (*o == ',')
				o++;
		}
		return -ENOENT;
	}
	return -ENOENT;
}

int pvs_qemu_region_path(const char *args, size_t len, char *path, size_t pathlen)
{
	const char *end = args + len, *p;

	for (p = args; p; p = next_arg(p, end)) {
		const char *m = p;

		while ((m = strstr(m, "mem-path")) != NULL) {
			const char *v = m + 8, *b;
			size_t n = 0;

			if (*v == '=') {
				v++;
				while (v[n] && v[n] != ',')
					n++;
			} else if (!strncmp(v, "\":\"", 3)) { /* JSON -object form */
				v += 3;
				while (v[n] && v[n] != '"')
					n++;
			} else {
				m = v;
				continue;
			}
			b = v + n;
			while (b > v && b[-1] != '/')
				b--;
			if (n < pathlen && !strncmp(b, "pvsched", 7)) {
				memcpy(path, v, n);
				path[n] = 0;
				return 0;
			}
			m = v + n;
		}
	}
	return -ENOENT;
}

/*
 * One option of one -object/-device argument: KEY's value into OUT.
 * IMPLIED is the key a first option without '=' stands for (qom-type,
 * driver).  A bare "key" is "key=on" (QEMU's boolean shorthand).  JSON
 * values that are not strings are given as their JSON text (true, 1048576).
 * Returns 0, or -ENOENT.
 */
static int opt_get(const char *arg, const char *implied, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);

	if (!outlen)
		return -ENOENT;
	if (*arg == '{') {
		struct json_object *o = json_tokener_parse(arg), *v;
		int rc = -ENOENT;

		if (o && json_object_is_type(o, json_type_object) &&
		    json_object_object_get_ex(o, key, &v) && v) {
			snprintf(out, outlen, "%s",
			         json_object_is_type(v, json_type_string)
			                 ? json_object_get_string(v)
			                 : json_object_to_json_string_ext(v,
			                                                  JSON_C_TO_STRING_PLAIN));
			rc = 0;
		}
		json_object_put(o);
		return rc;
	}
	for (const char *o = arg; *o;) {
		const char *eq = NULL, *e = o;

		/* the option runs to the next unescaped comma */
		while (*e && !(*e == ',' && e[1] != ',')) {
			if (*e == '=' && !eq)
				eq = e;
			e += (*e == ',') ? 2 : 1;
		}
		if (!eq && o == arg && implied && !strcmp(key, implied)) {
			copy_opt(o, out, outlen);
			return 0;
		}
		if (eq && (size_t)(eq - o) == klen && !memcmp(o, key, klen)) {
			copy_opt(eq + 1, out, outlen);
			return 0;
		}
		if (!eq && (size_t)(e - o) == klen && !memcmp(o, key, klen)) {
			snprintf(out, outlen, "on");
			return 0;
		}
		o = *e ? e + 1 : e;
	}
	return -ENOENT;
}

/* QEMU's boolean / OnOffAuto spellings: 1, 0, or -1 (auto or unknown). */
static int on_off(const char *v)
{
	static const char *const on[] = {"on", "yes", "true", "y"};
	static const char *const off[] = {"off", "no", "false", "n"};

	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		if (!strcmp(v, on[i]))
			return 1;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (!strcmp(v, off[i]))
			return 0;
	return -1;
}

/* P is "-NAME" or "--NAME". */
static int is_opt(const char *p, const char *name)
{
	if (*p++ != '-')
		return 0;
	if (*p == '-')
		p++;
	return !strcmp(p, name);
}

static int has_incoming(const char *args, const char *end)
{
	for (const char *p = args; p; p = next_arg(p, end))
		if (is_opt(p, "incoming"))
			return 1;
	return 0;
}

/*
 * The id (into ID) of the first -OPT argument whose IMPLIED key (qom-type,
 * backend) starts with TYPE (TLEN bytes of it: strlen for a prefix, + 1 for
 * an exact match) and whose PATH_KEY is PATH.  0, or -ENOENT.
 */
static int find_backend(const char *args, const char *end, const char *opt, const char *implied,
                        const char *type, size_t tlen, const char *path_key, const char *path,
                        char *id, size_t idlen)
{
	char v[PATH_MAX];

	for (const char *p = args; p; p = next_arg(p, end)) {
		const char *a;

		if (!is_opt(p, opt))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (!opt_get(a, implied, implied, v, sizeof(v)) && !strncmp(v, type, tlen) &&
		    !opt_get(a, implied, path_key, v, sizeof(v)) && !strcmp(v, path) &&
		    !opt_get(a, implied, "id", id, idlen))
			return 0;
	}
	id[0] = 0;
	return -ENOENT;
}

/*
 * The -device argument whose driver starts with DRIVER (DLEN bytes, as in
 * find_backend) and whose LINK_KEY (memdev, chardev) is ID; its driver
 * into OUT.  NULL when there is none.
 */
static const char *find_device(const char *args, const char *end, const char *driver, size_t dlen,
                               const char *link_key, const char *id, struct pvs_qemu_dev *out)
{
	char v[PATH_MAX];

	for (const char *p = args; p; p = next_arg(p, end)) {
		const char *a;

		if (!is_opt(p, "device"))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (!opt_get(a, "driver", "driver", out->driver, sizeof(out->driver)) &&
		    !strncmp(out->driver, driver, dlen) &&
		    !opt_get(a, "driver", link_key, v, sizeof(v)) && !strcmp(v, id))
			return a;
	}
	out->driver[0] = 0;
	return NULL;
}

/* Its master property: QEMU's default is off (peer mode). */
static int master_of(const char *dev)
{
	char v[32];

	return opt_get(dev, "driver", "master", v, sizeof(v)) ? 0 : on_off(v);
}

void pvs_qemu_doorbell_dev(const char *args, size_t len, const char *sock_path,
                           struct pvs_qemu_dev *out)
{
	const char *end = args + len, *dev;
	char v[32];

	memset(out, 0, sizeof(*out));
	if (!len || !sock_path[0])
		return;
	out->incoming = has_incoming(args, end);
	if (find_backend(args, end, "chardev", "backend", "socket", sizeof("socket"), "path",
	                 sock_path, out->memdev, sizeof(out->memdev)))
		return;
	dev = find_device(args, end, "ivshmem-doorbell", sizeof("ivshmem-doorbell"), "chardev",
	                  out->memdev, out);
	if (!dev)
		return;
	out->found = 1;
	out->master = master_of(dev);
	if (out->master < 0 && !opt_get(dev, "driver", "master", v, sizeof(v)) &&
	    !strcmp(v, "auto"))
		out->master = 1; /* peer id 0 (daemon/doorbell.c) */
}

void pvs_qemu_dev(const char *args, size_t len, const char *region_path, struct pvs_qemu_dev *out)
{
	const char *end = args + len, *dev;

	memset(out, 0, sizeof(*out));
	if (!len)
		return;
	out->incoming = has_incoming(args, end);
	if (find_backend(args, end, "object", "qom-type", "memory-backend",
	                 strlen("memory-backend"), "mem-path", region_path, out->memdev,
	                 sizeof(out->memdev)))
		return;
	dev = find_device(args, end, "ivshmem", strlen("ivshmem"), "memdev", out->memdev, out);
	if (!dev)
		return;
	out->found = 1;
	out->master = master_of(dev);
}
