/* The mounts of every mount namespace and the active swaps. A filesystem mounted only
 * inside a container or a service with private mounts shows in no table but that
 * namespace's, so one /proc/PID/mountinfo is read per distinct namespace (the
 * namespace's inode, in the proc/PID/ns/mnt link, tells them apart). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "alloc-util.h"

static int table_add(struct crit_mounts *mt, char *text, size_t ns)
{
	size_t first = mt->n;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct crit_mount m;
		if (!crit_mountinfo_parse_line(line, &m))
			continue;
		if (dp_array_grow(&mt->m, mt->n, 1, sizeof(*mt->m)) < 0)
			return -ENOMEM;
		m.ns = ns;
		m.bmajor = m.major;
		m.bminor = m.minor;
		/* btrfs shows an anonymous device and names its disk in the source */
		if (m.major == 0 && strncmp(m.source, "/dev/", 5) == 0)
			crit_block_by_path(m.source, &m.bmajor, &m.bminor);
		mt->m[mt->n++] = m;
	}
	return (int)(mt->n - first);
}

/* Reads path as the table of namespace ns; the text stays owned by mt. */
static int table_read(struct crit_mounts *mt, const char *path, size_t ns)
{
	_cleanup_free_ char *text = NULL;
	int r = dp_fs_read_all(path, &text, NULL);
	if (r < 0)
		return r;
	if (dp_array_grow(&mt->texts, mt->ntexts, 1, sizeof(*mt->texts)) < 0)
		return -ENOMEM;
	mt->texts[mt->ntexts++] = text;
	return table_add(mt, TAKE_PTR(text), ns);
}

static int ns_add(struct crit_mounts *mt, int pid)
{
	if (dp_array_grow(&mt->ns, mt->nns, 1, sizeof(*mt->ns)) < 0)
		return -ENOMEM;
	struct crit_ns *ns = &mt->ns[mt->nns++];
	ns->pid = pid;
	snprintf(ns->comm, sizeof(ns->comm), "?");
	if (pid > 0) {
		char path[64];
		snprintf(path, sizeof(path), "proc/%d/comm", pid);
		dp_fs_read_line(path, ns->comm, sizeof(ns->comm));
	}
	return 0;
}

struct pid_ns {
	int pid;
	char id[48];
};

static int pid_ns_cmp(const void *a, const void *b)
{
	const struct pid_ns *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Every process with its namespace link, lowest pid first: the process a foreign
 * namespace is named by is then the same from run to run. */
static size_t pids_collect(struct pid_ns **out)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir("proc");
	struct pid_ns *v = NULL;
	size_t n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (crit_checked(dp_array_grow(&v, n, 1, sizeof(*v))) < 0)
			break;
		char path[64];
		snprintf(path, sizeof(path), "proc/%.20s/ns/mnt", de->d_name);
		v[n].pid = atoi(de->d_name);
		if (v[n].pid > 0 && dp_fs_readlink(path, v[n].id, sizeof(v[n].id)) > 0)
			n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), pid_ns_cmp);
	*out = v;
	return n;
}

static bool id_seen(const struct dp_strv *seen, const char *id)
{
	return dp_strv_contains(seen, id);
}

/* One table per namespace not seen yet; a process that exits meanwhile leaves its
 * namespace to the next process in it. */
static void foreign_read(struct crit_mounts *mt, const char *own_id)
{
	_cleanup_free_ struct pid_ns *pids = NULL;
	_cleanup_(dp_strv_freep) struct dp_strv seen = {0};
	size_t n = pids_collect(&pids);
	if (*own_id)
		crit_checked(dp_strv_add(&seen, own_id));
	for (size_t i = 0; i < n; i++) {
		if (id_seen(&seen, pids[i].id))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "proc/%d/mountinfo", pids[i].pid);
		if (crit_checked(ns_add(mt, pids[i].pid)) < 0)
			return;
		if (crit_checked(table_read(mt, path, mt->nns - 1)) < 0) {   /* gone meanwhile */
			mt->nns--;
			continue;
		}
		crit_checked(dp_strv_add(&seen, pids[i].id));
	}
}

int crit_mounts_read(struct crit_mounts *mt)
{
	memset(mt, 0, sizeof(*mt));
	char own_id[48] = "";
	dp_fs_readlink("proc/self/ns/mnt", own_id, sizeof(own_id));
	if (ns_add(mt, 0) < 0)
		return -ENOMEM;
	if (crit_checked(table_read(mt, "proc/self/mountinfo", 0)) < 0 && *own_id == '\0')
		crit_checked(table_read(mt, "proc/1/mountinfo", 0));
	foreign_read(mt, own_id);
	return 0;
}

void crit_mounts_free(struct crit_mounts *mt)
{
	free(mt->m);
	free(mt->ns);
	for (size_t i = 0; i < mt->ntexts; i++)
		free(mt->texts[i]);
	free(mt->texts);
	memset(mt, 0, sizeof(*mt));
}

void crit_ns_describe(const struct crit_mounts *mt, const struct crit_mount *m, char *buf,
                      size_t size)
{
	const struct crit_ns *ns = &mt->ns[m->ns];
	if (m->ns == 0)
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, " in the mount namespace of pid %d (%s)", ns->pid, ns->comm);
}

void crit_mount_describe(const struct crit_mounts *mt, const struct crit_mount *m, char *buf,
                         size_t size)
{
	char where[128];
	crit_ns_describe(mt, m, where, sizeof(where));
	snprintf(buf, size, "%s mounted at %s%s", m->fstype, m->point, where);
}

static bool path_under(const char *path, const char *point)
{
	size_t len = strlen(point);
	if (strcmp(point, "/") == 0)
		return path[0] == '/';
	return strncmp(path, point, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

static const struct crit_mount *longest_mount(const struct crit_mounts *mt, const char *path,
                                              bool own)
{
	const struct crit_mount *best = NULL;
	for (size_t i = 0; i < mt->n; i++) {
		const struct crit_mount *m = &mt->m[i];
		if ((m->ns == 0) != own || !path_under(path, m->point))
			continue;
		if (!best || strlen(m->point) >= strlen(best->point))
			best = m;   /* the later of equal points is the one on top */
	}
	return best;
}

const struct crit_mount *crit_file_mount(const struct crit_mounts *mt, const char *path)
{
	const struct crit_mount *m = longest_mount(mt, path, true);
	struct stat st;
	if (m && (strcmp(m->point, "/") != 0 || dp_fs_stat(path, &st) == 0))
		return m;
	m = longest_mount(mt, path, false);
	return m && strcmp(m->point, "/") != 0 ? m : NULL;
}

/* ---- swaps ---------------------------------------------------------------------- */

static void swap_locate(const struct crit_mounts *mt, struct crit_swap *s)
{
	if (s->partition) {
		s->located = crit_block_by_path(s->path, &s->major, &s->minor);
		return;
	}
	s->fs = crit_file_mount(mt, s->path);
	s->located = s->fs && s->fs->bmajor != 0;
	if (s->located) {
		s->major = s->fs->bmajor;
		s->minor = s->fs->bminor;
	}
}

int crit_swaps_read(const struct crit_mounts *mt, struct crit_swaps *sw)
{
	_cleanup_free_ char *text = NULL;
	memset(sw, 0, sizeof(*sw));
	if (dp_fs_read_all("proc/swaps", &text, NULL) < 0)
		return 0;
	char *save = NULL, *line = strtok_r(text, "\n", &save);   /* the header */
	while ((line = strtok_r(NULL, "\n", &save))) {
		char path[PATH_MAX], type[32];
		if (sscanf(line, "%4095s %31s", path, type) != 2)
			continue;
		if (dp_array_grow(&sw->s, sw->n, 1, sizeof(*sw->s)) < 0)
			return -ENOMEM;
		crit_unescape(path);
		struct crit_swap *s = &sw->s[sw->n];
		*s = (struct crit_swap){.path = strdup(path), .partition = strcmp(type, "partition") == 0};
		if (!s->path)
			return -ENOMEM;
		swap_locate(mt, s);
		sw->n++;
	}
	return 0;
}

void crit_swaps_free(struct crit_swaps *sw)
{
	for (size_t i = 0; i < sw->n; i++)
		free(sw->s[i].path);
	free(sw->s);
	memset(sw, 0, sizeof(*sw));
}
