/* Group locks: two devpass processes never work on one IOMMU group at once. Locks are
 * taken in ascending group order, so two processes wanting overlapping sets cannot
 * deadlock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"

#define LOCK_DIR "run/devpass"

static int int_compare(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int dp_group_locks_take(const int *groups, size_t n, struct dp_group_locks *out)
{
	int r = dp_fs_mkdir_p(LOCK_DIR, 0755);
	if (r < 0)
		return dp_error_set(r, "cannot create /%s: %s", LOCK_DIR, strerror(-r));
	int *sorted = malloc((n + 1) * sizeof(int));
	memcpy(sorted, groups, n * sizeof(int));
	qsort(sorted, n, sizeof(int), int_compare);
	out->fds = calloc(n + 1, sizeof(int));
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && sorted[i] == sorted[i - 1])
			continue;
		char path[64];
		snprintf(path, sizeof(path), LOCK_DIR "/group-%d.lock", sorted[i]);
		int fd = dp_fs_lock(path);
		if (fd < 0) {
			free(sorted);
			dp_group_locks_release(out);
			return dp_error_set(fd, "cannot lock IOMMU group %d (/%s): %s", groups[i], path,
			                    strerror(-fd));
		}
		out->fds[out->n++] = fd;
	}
	free(sorted);
	return 0;
}

void dp_group_locks_release(struct dp_group_locks *locks)
{
	for (size_t i = locks->n; i-- > 0;)
		dp_fs_unlock(locks->fds[i]);
	free(locks->fds);
	locks->fds = NULL;
	locks->n = 0;
}
