/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/driver.c - a main() for the fuzz targets when libFuzzer is not
 * available (GCC builds, -Dfuzz=false): run every file named on the command
 * line, or found in a directory named there, through
 * LLVMFuzzerTestOneInput once.  Arguments starting with '-' (libFuzzer
 * options) are ignored.  Fails when no input was found at all, so a wrong
 * corpus path does not pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	/* exact size (at least 1 byte so the pointer is valid), like libFuzzer */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	printf("  run %s (%ld bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, errors = 0;

	for (int a = 1; a < argc; a++) {
		struct stat st;

		if (argv[a][0] == '-')
			continue;
		if (stat(argv[a], &st) < 0) {
			perror(argv[a]);
			errors++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			errors += run_file(argv[a]) < 0;
			n++;
			continue;
		}
		struct dirent **ents;
		int k = scandir(argv[a], &ents, NULL, alphasort);
		if (k < 0) {
			perror(argv[a]);
			errors++;
			continue;
		}
		for (int i = 0; i < k; i++) {
			char p[4096];
			if (ents[i]->d_name[0] != '.' &&
			    snprintf(p, sizeof(p), "%s/%s", argv[a], ents[i]->d_name) <
			            (int)sizeof(p) &&
			    stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				errors += run_file(p) < 0;
				n++;
			}
			free(ents[i]);
		}
		free(ents);
	}
	printf("%s: %d input(s) replayed, %d error(s)\n", argv[0], n, errors);
	return n == 0 || errors ? 1 : 0;
}
