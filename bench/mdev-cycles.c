/* mdev create+remove cycles per second inside one process: through libdevpass's public API
 * (dp_mdev_create, dp_mdev_remove with the timeout `devpass mdev remove` uses) against bare
 * open/write/close of the same sysfs files. It isolates what the library adds from what
 * starting a process costs (bench/mdev-bench.sh measures the command, process start
 * included). Writes to /sys: bench/mdev-bench.sh runs it only inside the harness guest.
 *
 *   mdev-cycles PARENT TYPE CYCLES */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devpass.h"

#define REMOVE_TIMEOUT_MS 10000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int r = n < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int new_uuid(char out[37])
{
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
	if (!f)
		return -errno;
	int r = fgets(out, 37, f) ? 0 : -EIO;
	fclose(f);
	return r;
}

static int bare_cycle(const char *parent, const char *type)
{
	char uuid[37], path[512];
	int r = new_uuid(uuid);
	snprintf(path, sizeof(path), "/sys/class/mdev_bus/%s/mdev_supported_types/%s/create",
	         parent, type);
	if (r < 0 || (r = write_file(path, uuid)) < 0)
		return r;
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", uuid);
	return write_file(path, "1");
}

static int devpass_cycle(const char *parent, const char *type)
{
	char uuid[37];
	int r = dp_mdev_create(parent, type, NULL, uuid);
	return r < 0 ? r : dp_mdev_remove(uuid, REMOVE_TIMEOUT_MS);
}

static double rate(const char *what, int (*cycle)(const char *, const char *),
                   const char *parent, const char *type, int n)
{
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		int r = cycle(parent, type);
		if (r < 0) {
			fprintf(stderr, "mdev-cycles: %s failed at cycle %d: %s (%s)\n", what, i,
			        strerror(-r), dp_error_message());
			exit(1);
		}
	}
	return n / (now_s() - t0);
}

/* The harness guest's kernel command line carries devpass_vm=: anywhere else this would
 * write to the sysfs of a machine whose devices it must not touch. */
static int in_harness_guest(void)
{
	char line[4096] = "";
	FILE *f = fopen("/proc/cmdline", "re");
	if (!f)
		return 0;
	int found = fgets(line, sizeof(line), f) && strstr(line, "devpass_vm=");
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	if (!in_harness_guest()) {
		fprintf(stderr, "mdev-cycles: refusing to run outside the VM tier's harness guest (no "
		        "devpass_vm= on the kernel command line): it writes to /sys\n");
		return 1;
	}
	if (argc != 4 || atoi(argv[3]) <= 0) {
		fprintf(stderr, "usage: mdev-cycles PARENT TYPE CYCLES\n");
		return 2;
	}
	int n = atoi(argv[3]);
	double bare = rate("bare writes", bare_cycle, argv[1], argv[2], n);
	double dp = rate("libdevpass", devpass_cycle, argv[1], argv[2], n);
	printf("in one process, %d cycles each\n", n);
	printf("  bare open/write:            %8.1f cycles/s\n", bare);
	printf("  libdevpass create/remove:   %8.1f cycles/s\n", dp);
	printf("  ratio (bare / libdevpass):  %8.2fx\n", bare / dp);
	return 0;
}
