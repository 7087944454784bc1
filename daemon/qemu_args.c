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

void pvs_qemu_doorbell_dev(const char *args, size_t len, const char *sock_path,
                           struct pvs_qemu_dev *out)
{
	const char *end = args + len, *p;
	char v[PATH_MAX];

	memset(out, 0, sizeof(*out));
	if (!len || !sock_path[0])
		return;
	for (p = args; p; p = next_arg(p, end))
		if (!strcmp(p, "-incoming") || !strcmp(p, "--incoming"))
			out->incoming = 1;
	for (p = args; p; p = next_arg(p, end)) {
		const char *a;

		if (strcmp(p, "-chardev") && strcmp(p, "--chardev"))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (!opt_get(a, "backend", "backend", v, sizeof(v)) && !strcmp(v, "socket") &&
		    !opt_get(a, "backend", "path", v, sizeof(v)) && !strcmp(v, sock_path) &&
		    !opt_get(a, "backend", "id", out->memdev, sizeof(out->memdev)))
			break;
		out->memdev[0] = 0;
	}
	for (p = args; out->memdev[0] && p; p = next_arg(p, end)) {
		const char *a;

		if (strcmp(p, "-device") && strcmp(p, "--device"))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (opt_get(a, "driver", "driver", out->driver, sizeof(out->driver)) ||
		    strcmp(out->driver, "ivshmem-doorbell") ||
		    opt_get(a, "driver", "chardev", v, sizeof(v)) || strcmp(v, out->memdev)) {
			out->driver[0] = 0;
			continue;
		}
		out->found = 1;
		out->master = opt_get(a, "driver", "master", v, sizeof(v)) ? 0 : on_off(v);
		if (out->master < 0 && !strcmp(v, "auto"))
			out->master = 1; /* peer id 0 (daemon/doorbell.c) */
		return;
	}
}

void pvs_qemu_dev(const char *args, size_t len, const char *region_path, struct pvs_qemu_dev *out)
{
	const char *end = args + len, *p;
	char v[PATH_MAX];

	memset(out, 0, sizeof(*out));
	if (!len)
		return;
	for (p = args; p; p = next_arg(p, end))
		if (!strcmp(p, "-incoming") || !strcmp(p, "--incoming"))
			out->incoming = 1;
	for (p = args; p; p = next_arg(p, end)) {
		const char *a;

		if (strcmp(p, "-object") && strcmp(p, "--object"))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (!opt_get(a, "qom-type", "qom-type", v, sizeof(v)) &&
		    !strncmp(v, "memory-backend", 14) &&
		    !opt_get(a, "qom-type", "mem-path", v, sizeof(v)) && !strcmp(v, region_path) &&
		    !opt_get(a, "qom-type", "id", out->memdev, sizeof(out->memdev)))
			break;
		out->memdev[0] = 0;
	}
	for (p = args; out->memdev[0] && p; p = next_arg(p, end)) {
		const char *a;

		if (strcmp(p, "-device") && strcmp(p, "--device"))
			continue;
		a = next_arg(p, end);
		if (!a)
			break;
		if (opt_get(a, "driver", "driver", out->driver, sizeof(out->driver)) ||
		    strncmp(out->driver, "ivshmem", 7) ||
		    opt_get(a, "driver", "memdev", v, sizeof(v)) || strcmp(v, out->memdev)) {
			out->driver[0] = 0;
			continue;
		}
		out->found = 1;
		out->master = opt_get(a, "driver", "master", v, sizeof(v)) ? 0 : on_off(v);
		return;
	}
}
