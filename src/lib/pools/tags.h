/* Internal: a pool's key=value tags in the database (tags.c; dp_pool_tag_check validates). */
#ifndef DP_POOLS_TAGS_H
#define DP_POOLS_TAGS_H

#include "pools/db.h"

int pool_tags_insert(struct pool_db *p, long long pool_id, char *const *tags, size_t n);
int pool_tags_load(struct pool_db *p, long long pool_id, struct dp_strv *out);

#endif
