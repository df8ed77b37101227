/* User and group names for --owner, from the files under the root (not NSS: a captured
 * tree or a chroot has its own). Numeric ids are taken as they are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "fs/sysroot.h"

/* name:x:ID:... → ID (and, for passwd, the primary group in field 4) */
static int db_lookup(const char *file, const char *name, unsigned *id, unsigned *primary)
{
	_cleanup_free_ char *text = NULL;
	char *end, *save = NULL;
	unsigned long v = strtoul(name, &end, 10);
	if (*name && !*end) {
		*id = (unsigned)v;
		return 0;
	}
	if (dp_fs_read_all(file, &text, NULL) < 0)
		return dp_error_set(-ENOENT, "cannot read /%s to look up '%s'", file, name);
	int r = dp_error_set(-EINVAL, "no '%s' in /%s", name, file);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5] = {0}, *fs = NULL;
		int n = 0;
		for (char *tok = strtok_r(line, ":", &fs); tok && n < 5; tok = strtok_r(NULL, ":", &fs))
			f[n++] = tok;
		if (n >= 3 && strcmp(f[0], name) == 0) {
			*id = (unsigned)strtoul(f[2], NULL, 10);
			if (primary && n >= 4)
				*primary = (unsigned)strtoul(f[3], NULL, 10);
			r = 0;
			break;
		}
	}
	return r;
}

int dp_account_lookup(const char *user, const char *group, unsigned *uid, unsigned *gid)
{
	unsigned primary = 0;
	int r = db_lookup("etc/passwd", user, uid, &primary);
	if (r < 0)
		return r;
	*gid = primary;
	char *end;
	if (!group && (strtoul(user, &end, 10), !*end))
		*gid = *uid;   /* a bare number: same id for the group */
	return group ? db_lookup("etc/group", group, gid, NULL) : 0;
}
