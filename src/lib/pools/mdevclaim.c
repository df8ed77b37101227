/* mdev pools: members are the (parent, type) pairs the pool's rules match, each with the
 * instances its parent can still make. A claim creates the mediated devices and records
 * each by its uuid in unit_claims; a release removes them. Unlike a USB claim, the claim
 * is the device itself: a failed create takes back the devices made before it, so a
 * claim makes all of its devices or none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/units.h"
#include "util/error.h"
#include "util/strutil.h"

bool mdev_rule_selects(const struct dp_rule *rule, const struct dp_mdev_type *t)
{
	struct dp_rule_mdev_subject s = {.parent = t->parent, .type = t->type,
	                                 .name = t->name ? t->name : ""};
	return dp_rule_match_mdev(rule, &s);
}

static bool mdev_type_matches(const struct pool_def *def, const struct dp_mdev_type *t)
{
	if (def->pool.type != DP_POOL_MDEV)
		return false;
	for (size_t r = 0; r < def->nrules; r++)
		if (mdev_rule_selects(&def->rules[r], t))
			return true;
	return false;
}

/* A PCI parent's node; virtual parents (mtty, mdpy) have none. */
static int parent_numa(const struct dp_pci_list *list, const char *parent)
{
	const struct dp_pci_device *d = list ? dp_pci_list_find(list, parent) : NULL;
	return d ? d->numa_node : DP_NO_NUMA;
}

struct mdev_claim_ctx {
	struct pool_db *p;
	const struct pool_def *def;
	const struct dp_claim_request *req;
	const struct dp_pci_list *pci;
	struct dp_claim_list *out;
	struct dp_strv made;          /* uuids created by this claim, taken back on failure */
	long long pid_start;
};

static int mdev_record(struct mdev_claim_ctx *x, const struct dp_mdev_type *t, const char *uuid)
{
	struct unit_claim c = {.kind = "mdev", .pool_id = x->def->id, .pid = x->req->pid,
	                       .pid_start = x->pid_start, .claimed_at = (long long)time(NULL)};
	snprintf(c.unit, sizeof(c.unit), "%s", uuid);
	snprintf(c.pool, sizeof(c.pool), "%s", x->def->pool.name);
	snprintf(c.owner, sizeof(c.owner), "%s", x->req->owner);
	snprintf(c.place, sizeof(c.place), "%s", t->parent);
	snprintf(c.detail, sizeof(c.detail), "%s", t->type);
	int r = unit_claim_insert(x->p, &c);
	struct dp_claim *o = r == 0 ? unit_claim_report(x->out, &c, t->parent) : NULL;
	if (o)
		o->numa = parent_numa(x->pci, t->parent);
	return r < 0 ? r : o ? 0 : dp_oom();
}

/* One device of t: created, then recorded (removed again if the record fails). */
static int mdev_take(struct mdev_claim_ctx *x, const struct dp_mdev_type *t)
{
	char uuid[37];
	int r = dp_mdev_create(t->parent, t->type, NULL, uuid);
	if (r < 0)
		return r;
	if (dp_strv_add(&x->made, uuid) < 0) {
		dp_mdev_remove(uuid, x->req->timeout_ms);
		return dp_oom();
	}
	return mdev_record(x, t, uuid);
}

/* Makes devices from the types whose parent is (or is not) on the preferred node. */
static int mdev_fill(struct mdev_claim_ctx *x, const struct dp_mdev_type_list *types,
                     bool on_node, unsigned *have)
{
	int r = 0;
	for (size_t i = 0; r == 0 && *have < x->req->count && i < types->n; i++) {
		const struct dp_mdev_type *t = &types->t[i];
		bool here = x->req->numa == DP_NO_NUMA || parent_numa(x->pci, t->parent) == x->req->numa;
		if (!mdev_type_matches(x->def, t) || here != on_node)
			continue;
		for (int k = 0; r == 0 && k < t->available && *have < x->req->count; k++)
			if ((r = mdev_take(x, t)) == 0)
				(*have)++;
	}
	return r;
}

static unsigned mdev_capacity(const struct pool_def *def, const struct dp_mdev_type_list *types)
{
	unsigned n = 0;
	for (size_t i = 0; i < types->n; i++)
		if (mdev_type_matches(def, &types->t[i]) && types->t[i].available > 0)
			n += (unsigned)types->t[i].available;
	return n;
}

static int mdev_shortage(const struct mdev_claim_ctx *x, unsigned capacity)
{
	const char *pool = x->def->pool.name;
	return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_SHOW, pool, "pool '%s' can make %u "
	                           "mediated device(s) now, %u asked (the parents' "
	                           "available_instances of the types it matches): nothing was "
	                           "created", pool, capacity, x->req->count);
}

static int mdev_choose(struct mdev_claim_ctx *x)
{
	struct dp_mdev_type_list types = {0};
	unsigned have = 0, capacity;
	int r = dp_mdev_types_read(NULL, &types);
	if (r == -ENOENT)
		r = 0;   /* no parents at all: no capacity */
	capacity = r == 0 ? mdev_capacity(x->def, &types) : 0;
	if (r == 0 && x->req->address)
		r = dp_error_set(-EINVAL, "pool '%s' is an "
		                        "mdev pool: its devices are made when claimed, none can be "
		                 "named", x->def->pool.name);
	else if (r == 0 && capacity < x->req->count)
		r = mdev_shortage(x, capacity);
	if (r == 0)
		r = mdev_fill(x, &types, true, &have);
	if (r == 0 && have < x->req->count)
		r = mdev_fill(x, &types, false, &have);
	if (r == 0 && have < x->req->count)   /* another creator raced us to the capacity */
		r = mdev_shortage(x, have);
	dp_mdev_type_list_free(&types);
	return r;
}

/* After a failure: every device this claim made is removed again. */
static int mdev_take_back(struct mdev_claim_ctx *x, int r)
{
	char why[1024];
	if (x->made.n == 0)
		return r;   /* the error (with its remedy) stands as said */
	snprintf(why, sizeof(why), "%s", dp_error_message());
	bool all = true;
	for (size_t i = 0; i < x->made.n; i++)
		all &= dp_mdev_remove(x->made.v[i], x->req->timeout_ms) == 0;
	return dp_error_set(r, "%s; the %zu mediated device(s) made for this claim were %s", why,
	                    x->made.n, all ? "removed again" : "not all removed (mdev list shows "
	                    "what is left)");
}

static int mdev_claim_txn(struct mdev_claim_ctx *x)
{
	_cleanup_(pool_defs_freep) struct pool_defs defs = {0};
	int r = pool_defs_load(x->p, &defs);
	if (r == 0 && !(x->def = pool_defs_find(&defs, x->req->pool)))
		r = pool_missing_error(x->req->pool);
	if (r == 0)
		r = mdev_choose(x);
	if (r < 0)
		r = mdev_take_back(x, r);
	return r;
}

int mdev_pool_claim(const struct dp_pci_list *pci, const struct dp_claim_request *req,
                    struct dp_claim_list *out)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	struct mdev_claim_ctx x = {.p = &p, .req = req, .pci = pci, .out = out,
	                           .pid_start = req->pid > 0 ? pid_start_time(req->pid) : 0};
	int r = pool_db_open(&p, true);
	if (r == 0 && (r = pool_db_begin(&p)) == 0) {
		r = mdev_claim_txn(&x);
		if (r == 0 && (r = pool_db_commit(&p)) < 0)
			mdev_take_back(&x, r);
		else if (r < 0)
			pool_db_rollback(&p);
	}
	dp_strv_free(&x.made);
	return r;   /* on failure out holds rows of the rolled-back claim: the caller frees it */
}

/* ---- members and counts ------------------------------------------------------------ */

size_t mdev_rule_count(const struct dp_rule *rule)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list types = {0};
	size_t n = 0;
	if (dp_mdev_types_read(NULL, &types) < 0)
		return 0;
	for (size_t i = 0; i < types.n; i++)
		n += mdev_rule_selects(rule, &types.t[i]);
	return n;
}

static struct dp_pool_member *mdev_member_add(struct dp_pool_members *out,
                                              const struct pool_def *def, const char *parent)
{
	if (dp_array_grow(&out->m, out->n, 1, sizeof(*out->m)) < 0)
		return NULL;
	struct dp_pool_member *m = &out->m[out->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->pool, sizeof(m->pool), "%s", def->pool.name);
	snprintf(m->address, sizeof(m->address), "%s", parent);
	m->group = DP_NO_GROUP;
	m->numa = DP_NO_NUMA;
	m->sriov_total = -1;
	return m;
}

/* The pair itself: free while its parent can make more, its reason "TYPE: N available". */
static int mdev_pair_add(const struct dp_pci_list *pci, const struct pool_def *def,
                         const struct dp_mdev_type *t, struct dp_pool_members *out)
{
	struct dp_pool_member *m = mdev_member_add(out, def, t->parent);
	if (!m)
		return dp_oom();
	m->state = t->available > 0 ? DP_MEMBER_FREE : DP_MEMBER_UNAVAILABLE;
	m->numa = parent_numa(pci, t->parent);
	char why[160];
	snprintf(why, sizeof(why), "type %s: %d available", t->type, t->available);
	return (m->reason = strdup(why)) ? 0 : dp_oom();
}

/* Each claimed device: claimed by its owner, its reason "TYPE UUID". */
static int mdev_claimed_add(const struct pool_def *def, const struct unit_claim *c,
                            struct dp_pool_members *out)
{
	struct dp_pool_member *m = mdev_member_add(out, def, c->place);
	if (!m)
		return dp_oom();
	m->state = DP_MEMBER_CLAIMED;
	snprintf(m->owner, sizeof(m->owner), "%s", c->owner);
	m->pid = c->pid;
	m->stale = c->stale;
	m->since = c->claimed_at;
	char why[160];
	snprintf(why, sizeof(why), "type %s: %s", c->detail, c->unit);
	return (m->reason = strdup(why)) ? 0 : dp_oom();
}

int mdev_members(struct pool_db *p, const struct dp_pci_list *pci, const struct pool_def *def,
                 struct dp_pool_members *out)
{
	_cleanup_(unit_claims_freep) struct unit_claims claims = {0};
	struct dp_mdev_type_list types = {0};
	int r = unit_claims_load(p, "mdev", &claims);
	if (r == 0 && (r = dp_mdev_types_read(NULL, &types)) == -ENOENT)
		r = 0;
	for (size_t i = 0; r == 0 && i < types.n; i++)
		if (mdev_type_matches(def, &types.t[i]))
			r = mdev_pair_add(pci, def, &types.t[i], out);
	for (size_t i = 0; r == 0 && i < claims.n; i++)
		if (claims.c[i].pool_id == def->id)
			r = mdev_claimed_add(def, &claims.c[i], out);
	dp_mdev_type_list_free(&types);
	return r;
}
