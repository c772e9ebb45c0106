/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs through LLVMFuzzerTestOneInput() without libFuzzer, so
 * that `meson test --suite fuzz` runs every committed corpus file under gcc
 * and the sanitizers. Arguments are files or directories of files (not
 * recursive; dotfiles skipped). Finding no input at all is a failure: an
 * empty or misplaced corpus must not pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "string-util.h"

#define INPUT_MAX (16U * 1024U * 1024U) /* bytes; far above any seed */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	_cleanup_(freep) char *buf = NULL;
	_cleanup_(freep) uint8_t *data = NULL;
	size_t len = 0;
	int r;

	r = read_file_capped(AT_FDCWD, path, INPUT_MAX, false, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-r));
		return r;
	}

	/* Exactly len bytes, without the NUL read_file_capped() adds, so that
	 * ASan sees any read past the input. */
	data = malloc(len > 0 ? len : 1);
	if (!data) {
		return -ENOMEM;
	}
	memcpy(data, buf, len);

	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);
	(void)LLVMFuzzerTestOneInput(data, len);
	return 0;
}

static int skip_dotfiles(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* Returns the number of inputs run, or a negative errno. */
static int run_dir(const char *dir)
{
	struct dirent **entries = NULL;
	int n, count = 0, r = 0;

	n = scandir(dir, &entries, skip_dotfiles, alphasort);
	if (n < 0) {
		r = -errno;
		fprintf(stderr, "%s: cannot list: %s\n", dir, strerror(errno));
		return r;
	}

	for (int i = 0; i < n; i++) {
		_cleanup_(freep) char *path = NULL;
		struct stat st;

		if (r >= 0) {
			path = strjoin(dir, "/", entries[i]->d_name);
			if (!path) {
				r = -ENOMEM;
			} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				r = run_file(path);
				count++;
			}
		}
		free(entries[i]);
	}
	free(entries);
	return r < 0 ? r : count;
}

int main(int argc, char *argv[])
{
	int total = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			r = run_dir(argv[i]);
		} else {
			r = run_file(argv[i]);
			if (r == 0) {
				r = 1;
			}
		}
		if (r < 0) {
			return 1;
		}
		total += r;
	}

	if (total == 0) {
		fprintf(stderr, "No fuzz inputs found in the arguments, failing\n");
		return 1;
	}
	printf("%d inputs replayed\n", total);
	return 0;
}
