/* Locks: two devpass processes never work on one IOMMU group (or, for a function
 * without one, on one function) at once. Locks are taken in one fixed order, so two
 * processes wanting overlapping sets cannot deadlock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"

#define LOCK_DIR "run/devpass"

int dp_lock_name_add(struct dp_strv *names, int group, const char *address)
{
	char name[64];
	if (group >= 0)
		snprintf(name, sizeof(name), "group-%d", group);
	else
		snprintf(name, sizeof(name), "device-%s", address);
	if (!dp_strv_contains(names, name) && dp_strv_add(names, name) < 0)
		return dp_oom();   /* a lock left out would not keep the others away */
	return 0;
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dp_locks_take(struct dp_strv *names, struct dp_group_locks *out)
{
	int r = dp_fs_mkdir_p(LOCK_DIR, 0755);
	if (r < 0)
		return dp_error_set(r, "cannot create /%s: %s", LOCK_DIR, strerror(-r));
	qsort(names->v, names->n, sizeof(*names->v), name_compare);
	out->n = 0;
	if (!(out->fds = calloc(names->n + 1, sizeof(int))))
		return dp_oom();
	for (size_t i = 0; i < names->n; i++) {
		char path[128];
		snprintf(path, sizeof(path), LOCK_DIR "/%s.lock", names->v[i]);
		int fd = dp_fs_lock(path);
		if (fd < 0) {
			dp_group_locks_release(out);
			return dp_error_set(fd, "cannot take the lock /%s: %s", path, strerror(-fd));
		}
		out->fds[out->n++] = fd;
	}
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
