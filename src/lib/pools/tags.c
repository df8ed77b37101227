/* Pool tags: key=value facts about a pool that platforms need and rules cannot say, such as
 * the physical network an SR-IOV VF pool's uplink is wired to (physnet=NAME), which the
 * Nova export writes as the VFs' physical_network. Stored in pool_tags, one per key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pools/db.h"
#include "pools/tags.h"
#include "statedb/statedb.h"
#include "util/error.h"
#include "util/strutil.h"

#define TAG_KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"

int dp_pool_tag_check(const char *text)
{
	const char *eq = strchr(text, '=');
	size_t klen = eq ? (size_t)(eq - text) : 0;
	if (!eq || klen == 0 || klen > 32 || strspn(text, TAG_KEY_CHARS) != klen)
		return dp_error_set(-EINVAL, "tag '%s' is not KEY=VALUE with a key of 1-32 lower-case "
		                    "letters, digits, '_' or '-' (physnet=datacentre)", text);
	size_t vlen = strlen(eq + 1);
	if (vlen == 0 || vlen > 64 || !dp_utf8_text_valid(eq + 1) || strpbrk(eq + 1, " \t\"'\\"))
		return dp_error_set(-EINVAL, "tag '%s': the value must be 1-64 characters of text "
		                    "without spaces or quotes", text);
	return 0;
}

int pool_tags_insert(struct pool_db *p, long long pool_id, char *const *tags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');
		char key[33];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - tags[i]), tags[i]);
		int r = pool_db_run(p, "store the tag", "INSERT OR REPLACE INTO pool_tags (pool_id, key, "
		                    "value) VALUES (?1, ?2, ?3)", "iss", pool_id, key, eq + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

int pool_tags_load(struct pool_db *p, long long pool_id, struct dp_strv *out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p, "SELECT key, value FROM "
		"pool_tags WHERE pool_id = ?1 ORDER BY key", "i", pool_id);
	if (!st)
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (dp_strv_addf(out, "%s=%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1)) < 0)
			return dp_oom();
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(p->db, "read the pool's tags");
}

int dp_pool_tags_read(const char *pool, struct dp_strv *out)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	_cleanup_(pool_defs_freep) struct pool_defs defs = {0};
	memset(out, 0, sizeof(*out));
	int r = pool_db_open(&p, false);
	if (r < 0 || !p.db)
		return r < 0 ? r : pool_missing_error(pool);
	if ((r = pool_defs_load(&p, &defs)) < 0)
		return r;
	const struct pool_def *d = pool_defs_find(&defs, pool);
	r = d ? pool_tags_load(&p, d->id, out) : pool_missing_error(pool);
	if (r < 0)
		dp_strv_free(out);
	return r;
}

const char *dp_pool_tag_value(const struct dp_strv *tags, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < tags->n; i++)
		if (strncmp(tags->v[i], key, klen) == 0 && tags->v[i][klen] == '=')
			return tags->v[i] + klen + 1;
	return NULL;
}
