/* The pools as they stand: which devices each pool's rules match now, joined with what the
 * database remembers (fingerprints, claims, quarantine). A device matched by two pools is
 * a conflict and claimable from neither; a member whose identity differs from its
 * fingerprint is "changed" and claimable from none. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/sysroot.h"
#include "pools/units.h"
#include "pools/view.h"
#include "statedb/statedb.h"
#include "inventory/inventory.h"

/* ---- processes ---------------------------------------------------------------------- */

/* The start time (clock ticks after boot) tells a process from a later one that was given
 * the same pid. 0 when /proc does not say (a --root tree). */
/* ---- loading ------------------------------------------------------------------------- */

static const char *text_col(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : "";
}

static int originals_load(struct pool_db *p, struct pool_view *v)
{
	for (size_t i = 0; i < v->list->n; i++)
		snprintf(v->dev[i].driver, sizeof(v->dev[i].driver), "%s", v->list->dev[i].driver);
	sqlite3_stmt *st = pool_db_query(p, "SELECT address, original_driver FROM devices", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct dp_pci_device *d = dp_pci_list_find(v->list, text_col(st, 0));
		if (d)   /* rules keep matching a device devpass moved to vfio-pci */
			snprintf(v->dev[d - v->list->dev].driver, 64, "%s", text_col(st, 1));
	}
	sqlite3_finalize(st);
	return 0;
}

static int claims_load(struct pool_db *p, struct pool_view *v)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p, "SELECT address, pool_id, member, owner, pid, pid_start, "
	                                    "claimed_at FROM claims ORDER BY address", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (dp_array_grow(&v->claims, v->nclaims, 1, sizeof(*v->claims)) < 0)
			return dp_oom();
		struct view_claim *c = &v->claims[v->nclaims++];
		memset(c, 0, sizeof(*c));
		snprintf(c->address, sizeof(c->address), "%s", text_col(st, 0));
		c->pool_id = sqlite3_column_int64(st, 1);
		snprintf(c->member, sizeof(c->member), "%s", text_col(st, 2));
		snprintf(c->owner, sizeof(c->owner), "%s", text_col(st, 3));
		c->pid = sqlite3_column_int(st, 4);
		c->pid_start = sqlite3_column_int64(st, 5);
		c->claimed_at = sqlite3_column_int64(st, 6);
	}
	/* one liveness test per process, not per function */
	for (size_t i = 0; i < v->nclaims; i++) {
		struct view_claim *c = &v->claims[i];
		c->stale = i > 0 && c->pid == v->claims[i - 1].pid && c->pid_start == v->claims[i - 1].pid_start
		           ? v->claims[i - 1].stale : !pid_alive(c->pid, c->pid_start);
	}
	return 0;
}

static int prints_load(struct pool_db *p, struct pool_view *v)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p, "SELECT address, pool_id, vendor, device, subsys_vendor, "
	                                    "subsys_device, class, serial, dsn, numa, physfn, "
	                                    "sriov_total, joined_at FROM members ORDER BY address", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (dp_array_grow(&v->prints, v->nprints, 1, sizeof(*v->prints)) < 0)
			return dp_oom();
		struct view_fingerprint *f = &v->prints[v->nprints++];
		memset(f, 0, sizeof(*f));
		snprintf(f->address, sizeof(f->address), "%s", text_col(st, 0));
		f->pool_id = sqlite3_column_int64(st, 1);
		f->vendor = (uint16_t)sqlite3_column_int(st, 2);
		f->device = (uint16_t)sqlite3_column_int(st, 3);
		f->has_subsys = sqlite3_column_type(st, 4) != SQLITE_NULL;
		f->subsys_vendor = (uint16_t)sqlite3_column_int(st, 4);
		f->subsys_device = (uint16_t)sqlite3_column_int(st, 5);
		f->class_code = (uint32_t)sqlite3_column_int(st, 6);
		snprintf(f->serial, sizeof(f->serial), "%s", text_col(st, 7));
		snprintf(f->dsn, sizeof(f->dsn), "%s", text_col(st, 8));
		f->numa = sqlite3_column_type(st, 9) == SQLITE_NULL ? DP_NO_NUMA : sqlite3_column_int(st, 9);
		snprintf(f->physfn, sizeof(f->physfn), "%s", text_col(st, 10));
		f->sriov_total = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 11);
		f->joined_at = sqlite3_column_int64(st, 12);
	}
	return 0;
}

static int quarantine_load(struct pool_db *p, struct pool_view *v)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p, "SELECT address, since, owner FROM quarantine", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (dp_array_grow(&v->quarantine, v->nquarantine, 1, sizeof(*v->quarantine)) < 0)
			return dp_oom();
		struct view_quarantine *q = &v->quarantine[v->nquarantine++];
		snprintf(q->address, sizeof(q->address), "%s", text_col(st, 0));
		q->since = sqlite3_column_int64(st, 1);
		snprintf(q->owner, sizeof(q->owner), "%s", text_col(st, 2));
	}
	return 0;
}

/* A claim looks at every member of a pool: each reads only what it is asked for. */
const struct dp_pci_identity *view_identity(struct pool_view *v, size_t i)
{
	struct view_device *d = &v->dev[i];
	if (!d->id_read) {
		dp_pci_identity_read(&v->list->dev[i], &d->id);
		d->id_read = d->physfn_read = d->sriov_read = true;
	}
	return &d->id;
}

const char *view_physfn(struct pool_view *v, size_t i)
{
	struct view_device *d = &v->dev[i];
	if (!d->physfn_read) {
		dp_pci_physfn_read(&v->list->dev[i], d->id.physfn);
		d->physfn_read = true;
	}
	return d->id.physfn;
}

int view_sriov_total(struct pool_view *v, size_t i)
{
	struct view_device *d = &v->dev[i];
	if (!d->sriov_read) {
		/* a VF has no VFs of its own: no file to read */
		d->id.sriov_total = *view_physfn(v, i) ? -1 : dp_pci_sriov_total(&v->list->dev[i]);
		d->sriov_read = true;
	}
	return d->id.sriov_total;
}

/* VF or not decides which pool types can take a device. */
static bool device_is_vf(struct pool_view *v, size_t i)
{
	return *view_physfn(v, i) != '\0';
}

static bool type_takes(enum dp_pool_type type, bool is_vf)
{
	return (type == DP_POOL_PCI && !is_vf) || (type == DP_POOL_SRIOV_VF && is_vf);
}

/* An NVMe's serial is readable only while nvme drives it. On vfio-pci (where devpass put
 * it) the serial recorded when it joined stands in, as long as its ids are the same. */
static const char *serial_known(struct pool_view *v, size_t i, const char *live)
{
	const struct dp_pci_device *d = &v->list->dev[i];
	if (*live)
		return live;
	for (size_t k = 0; k < v->nprints; k++) {
		const struct view_fingerprint *f = &v->prints[k];
		if (*f->serial && strcmp(f->address, d->address) == 0 && f->vendor == d->vendor &&
		    f->device == d->device)
			return f->serial;
	}
	return live;
}

static bool rule_matches(struct pool_view *v, const struct dp_rule *rule, size_t i)
{
	struct dp_rule_subject s = {&v->list->dev[i], v->dev[i].driver, "", "", ""};
	if (dp_rule_uses(rule, DP_RK_PHYSFN))
		s.physfn = view_physfn(v, i);
	if (dp_rule_uses(rule, DP_RK_SERIAL)) {
		const struct dp_pci_identity *id = view_identity(v, i);
		s.serial = serial_known(v, i, id->serial);
		s.dsn = id->dsn;
	}
	return dp_rule_match(rule, &s);
}

/* The rules first (memory only), the PF link only for devices they match. */
static bool def_matches(struct pool_view *v, const struct pool_def *d, size_t i)
{
	if (d->pool.type != DP_POOL_PCI && d->pool.type != DP_POOL_SRIOV_VF)
		return false;
	for (size_t r = 0; r < d->nrules; r++)
		if (rule_matches(v, &d->rules[r], i))
			return type_takes(d->pool.type, device_is_vf(v, i));
	return false;
}

size_t view_rule_count(struct pool_view *v, enum dp_pool_type type, const struct dp_rule *rule)
{
	size_t n = 0;
	for (size_t i = 0; i < v->list->n; i++)
		n += dp_pci_device_base_class(&v->list->dev[i]) != 0x06 && rule_matches(v, rule, i) &&
		     type_takes(type, device_is_vf(v, i));
	return n;
}

static int matches_compute(struct pool_view *v)
{
	for (size_t i = 0; i < v->list->n; i++) {
		/* bridges of every kind (host, ISA/LPC, PCI) stay with the host */
		if (dp_pci_device_base_class(&v->list->dev[i]) == 0x06 || v->defs.n == 0)
			continue;
		for (size_t d = 0; d < v->defs.n; d++)
			if (def_matches(v, &v->defs.d[d], i) &&
			    dp_strv_add(&v->dev[i].pools, v->defs.d[d].pool.name) < 0)
				return dp_oom();   /* a pool left out would hide a conflict */
	}
	return 0;
}

int pool_view_build(struct pool_db *p, const struct dp_pci_list *list, struct pool_view *v,
                    bool match)
{
	memset(v, 0, sizeof(*v));
	v->list = list;
	if (!(v->dev = calloc(list->n ? list->n : 1, sizeof(*v->dev))))
		return dp_oom();
	int r = pool_defs_load(p, &v->defs);
	if (r < 0)
		return r;
	if (p->db && ((r = originals_load(p, v)) < 0 || (r = claims_load(p, v)) < 0 ||
	              (r = prints_load(p, v)) < 0 || (r = quarantine_load(p, v)) < 0))
		return r;
	if ((r = dp_groups_build(list, &v->groups)) < 0)
		return r;
	return match ? matches_compute(v) : 0;
}

void pool_view_free(struct pool_view *v)
{
	for (size_t i = 0; v->dev && i < v->list->n; i++)
		dp_strv_free(&v->dev[i].pools);
	free(v->dev);
	free(v->claims);
	free(v->prints);
	free(v->quarantine);
	dp_groups_free(&v->groups);
	pool_defs_free(&v->defs);
	memset(v, 0, sizeof(*v));
}

const struct view_claim *view_claim_find(const struct pool_view *v, const char *address)
{
	for (size_t i = 0; i < v->nclaims; i++)
		if (strcmp(v->claims[i].address, address) == 0)
			return &v->claims[i];
	return NULL;
}

const struct view_fingerprint *view_print_find(const struct pool_view *v, long long pool_id,
                                               const char *address)
{
	for (size_t i = 0; i < v->nprints; i++)
		if (v->prints[i].pool_id == pool_id && strcmp(v->prints[i].address, address) == 0)
			return &v->prints[i];
	return NULL;
}

const struct view_quarantine *view_quarantine_find(const struct pool_view *v, const char *address)
{
	for (size_t i = 0; i < v->nquarantine; i++)
		if (strcmp(v->quarantine[i].address, address) == 0)
			return &v->quarantine[i];
	return NULL;
}

/* ---- fingerprints -------------------------------------------------------------------- */

static int diff_add(struct dp_strv *d, const char *what, const char *was, const char *now)
{
	if (strcmp(was, now) != 0 && dp_strv_addf(d, "%s %s is now %s", what, was, now) < 0)
		return -ENOMEM;
	return 0;
}

/* Serial numbers are compared only when both are known: an NVMe's serial is only there
 * while the nvme driver has it, and a device on vfio-pci is still the same device.
 * *out: "hardware changed: ...", NULL when the device is as it joined. */
int view_print_diff(struct pool_view *v, const struct view_fingerprint *f, size_t i, char **out)
{
	const struct dp_pci_device *d = &v->list->dev[i];
	_cleanup_(dp_strv_freep) struct dp_strv diff = {0};
	char was[32], now[32];
	int r = 0;
	*out = NULL;
	snprintf(was, sizeof(was), "%04x:%04x", f->vendor, f->device);
	snprintf(now, sizeof(now), "%04x:%04x", d->vendor, d->device);
	r |= diff_add(&diff, "id", was, now);
	snprintf(was, sizeof(was), f->has_subsys ? "%04x:%04x" : "none", f->subsys_vendor, f->subsys_device);
	snprintf(now, sizeof(now), d->has_subsys ? "%04x:%04x" : "none", d->subsys_vendor, d->subsys_device);
	r |= diff_add(&diff, "subsystem", was, now);
	snprintf(was, sizeof(was), "%06x", f->class_code);
	snprintf(now, sizeof(now), "%06x", d->class_code);
	r |= diff_add(&diff, "class", was, now);
	if (*f->serial || *f->dsn) {
		const struct dp_pci_identity *id = view_identity(v, i);
		if (*f->serial && *id->serial)
			r |= diff_add(&diff, "serial", f->serial, id->serial);
		if (*f->dsn && *id->dsn)
			r |= diff_add(&diff, "serial number (DSN)", f->dsn, id->dsn);
	}
	if (r < 0)
		return dp_oom();
	if (!diff.n)
		return 0;
	_cleanup_free_ char *joined = dp_strv_join(&diff, "; ");
	if (!joined || asprintf(out, "hardware changed: %s", joined) < 0) {
		*out = NULL;
		return dp_oom();
	}
	return 0;
}

static int print_record(struct pool_view *v, struct pool_db *p, long long pool_id, size_t i)
{
	const struct dp_pci_device *d = &v->list->dev[i];
	const struct dp_pci_identity *id = view_identity(v, i);
	sqlite3_stmt *st = pool_db_query(p, "INSERT OR IGNORE INTO members (pool_id, address, vendor, "
	                                    "device, subsys_vendor, subsys_device, class, serial, dsn, "
	                                    "numa, physfn, sriov_total, joined_at) VALUES "
	                                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	                                 "isiiiiissisii", pool_id, d->address, (long long)d->vendor,
	                                 (long long)d->device, (long long)d->subsys_vendor,
	                                 (long long)d->subsys_device, (long long)d->class_code,
	                                 id->serial, id->dsn, (long long)d->numa_node, id->physfn,
	                                 (long long)id->sriov_total, (long long)time(NULL));
	if (!st)
		return -EIO;
	if (!d->has_subsys)
		sqlite3_bind_null(st, 5), sqlite3_bind_null(st, 6);
	if (d->numa_node < 0)
		sqlite3_bind_null(st, 10);
	if (id->sriov_total < 0)
		sqlite3_bind_null(st, 12);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(p->db, "record the fingerprint");
}

/* ---- states ----------------------------------------------------------------------------- */

static const char *const state_names[] = {"free", "claimed", "quarantined", "changed",
                                          "missing", "conflict", "unavailable"};

const char *dp_member_state_name(enum dp_member_state s)
{
	return s <= DP_MEMBER_UNAVAILABLE ? state_names[s] : "?";
}

static const struct view_claim *group_claim(const struct pool_view *v, size_t i)
{
	const struct dp_iommu_group *g = dp_groups_find(&v->groups, v->list->dev[i].iommu_group);
	for (size_t k = 0; g && k < g->n; k++) {
		const struct view_claim *c = view_claim_find(v, v->list->dev[g->members[k]].address);
		if (c)
			return c;
	}
	return NULL;
}

/* A PF and its VFs cannot go to two tenants: the PF's driver controls the VFs. */
static const struct view_claim *sriov_relative_claim(struct pool_view *v, size_t i)
{
	if (*view_physfn(v, i))
		return view_claim_find(v, view_physfn(v, i));
	if (view_sriov_total(v, i) <= 0)
		return NULL;
	for (size_t k = 0; k < v->nclaims; k++) {
		const struct dp_pci_device *d = dp_pci_list_find(v->list, v->claims[k].address);
		if (d && strcmp(view_physfn(v, (size_t)(d - v->list->dev)), v->list->dev[i].address) == 0)
			return &v->claims[k];
	}
	return NULL;
}


/* Which member of the group the host needs, and why: the reason, not only the fact. */
static int group_critical_why(const struct pool_view *v, const struct dp_iommu_group *g, char **why)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *m = &v->list->dev[g->members[k]];
		if (m->critical.n && !dp_pci_device_is_bridge(m))
			return asprintf(why, "IOMMU group %d holds a host-critical device: %s %s", g->number,
			                m->address, m->critical.v[0]);
	}
	return asprintf(why, "IOMMU group %d holds a host-critical device", g->number);
}

/* Why the device cannot be claimed (*why), NULL when it can; -ENOMEM. */
static int unavailable_reason(struct pool_view *v, size_t i, char **why)
{
	const struct dp_pci_device *d = &v->list->dev[i];
	const struct dp_iommu_group *g = dp_groups_find(&v->groups, d->iommu_group);
	const struct view_claim *c;
	int n = 0;
	*why = NULL;
	if (!g)
		n = asprintf(why, "no IOMMU group (is the IOMMU on?)");
	else if (g->host_critical)
		n = group_critical_why(v, g, why);
	else if ((c = group_claim(v, i)))
		n = asprintf(why, "IOMMU group %d is claimed with %s by %s", g->number, c->member, c->owner);
	else if ((c = sriov_relative_claim(v, i)))
		n = asprintf(why, "%s %s is claimed by %s", strcmp(c->address, view_physfn(v, i))
		             == 0 ? "its PF" : "its VF", c->address, c->owner);
	if (n < 0) {
		*why = NULL;
		return -ENOMEM;   /* not "available": an unavailable device must not read as free */
	}
	return 0;
}

static void member_fill_print(struct dp_pool_member *m, const struct view_fingerprint *f)
{
	m->vendor = f->vendor;
	m->device = f->device;
	m->subsys_vendor = f->subsys_vendor;
	m->subsys_device = f->subsys_device;
	m->class_code = f->class_code;
	m->numa = f->numa;
	m->since = f->joined_at;
	m->sriov_total = f->sriov_total;
	snprintf(m->physfn, sizeof(m->physfn), "%s", f->physfn);
}

static void member_fill_device(struct pool_view *v, struct dp_pool_member *m, size_t i)
{
	const struct dp_pci_device *d = &v->list->dev[i];
	m->dev = d;
	m->vendor = d->vendor;
	m->device = d->device;
	m->subsys_vendor = d->subsys_vendor;
	m->subsys_device = d->subsys_device;
	m->class_code = d->class_code;
	m->numa = d->numa_node;
	m->group = d->iommu_group;
	m->sriov_total = view_sriov_total(v, i);
	snprintf(m->physfn, sizeof(m->physfn), "%s", view_physfn(v, i));
}

/* -ENOMEM when the state's reason cannot be written: the state is then unknown. */
static int member_state(struct pool_view *v, const struct pool_def *def, struct dp_pool_member *m,
                        size_t i, const char *diff)
{
	const struct view_claim *c = view_claim_find(v, m->address);
	const struct view_quarantine *q = view_quarantine_find(v, m->address);
	char *why = NULL;
	int n = 0;
	if (c && c->member[0] && strcmp(c->member, m->address) == 0 && c->pool_id == def->id) {
		m->state = DP_MEMBER_CLAIMED;
		snprintf(m->owner, sizeof(m->owner), "%s", c->owner);
		m->pid = c->pid;
		m->stale = c->stale;
		m->since = c->claimed_at;
		if (c->stale)
			n = asprintf(&why, "process %d is gone: the next claim or a "
		                         "gc takes it back", c->pid);
	} else if (diff) {
		m->state = DP_MEMBER_CHANGED;
		n = (why = strdup(diff)) ? 0 : -1;
	} else if (q) {
		m->state = DP_MEMBER_QUARANTINED;
		m->since = q->since;
		snprintf(m->owner, sizeof(m->owner), "%s", q->owner);   /* for the wipe */
		n = (why = strdup("released; claimable again after a pool clear")) ? 0 : -1;
	} else if (v->dev[i].pools.n > 1) {
		_cleanup_free_ char *all = dp_strv_join(&v->dev[i].pools, ", ");
		m->state = DP_MEMBER_CONFLICT;
		n = all ? asprintf(&why, "matched by pools %s: make their rules exclusive", all) : -1;
	} else {
		if (unavailable_reason(v, i, &why) < 0)
			return dp_oom();
		m->state = why ? DP_MEMBER_UNAVAILABLE : DP_MEMBER_FREE;
	}
	if (n < 0)
		return dp_oom();
	m->reason = why;
	return 0;
}

/* NULL when out of memory. */
static struct dp_pool_member *member_add(struct dp_pool_members *out, const struct pool_def *def,
                                         const char *address)
{
	if (dp_array_grow(&out->m, out->n, 1, sizeof(*out->m)) < 0)
		return NULL;
	struct dp_pool_member *m = &out->m[out->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->pool, sizeof(m->pool), "%s", def->pool.name);
	snprintf(m->address, sizeof(m->address), "%s", address);
	m->group = DP_NO_GROUP;
	m->numa = DP_NO_NUMA;
	m->sriov_total = -1;
	return m;
}

static bool def_index_matches(const struct pool_view *v, size_t i, const struct pool_def *def)
{
	return dp_strv_contains(&v->dev[i].pools, def->pool.name);
}

static int missing_add(struct pool_view *v, const struct pool_def *def, struct dp_pool_members *out)
{
	for (size_t k = 0; k < v->nprints; k++) {
		const struct view_fingerprint *f = &v->prints[k];
		if (f->pool_id != def->id || dp_pci_list_find(v->list, f->address))
			continue;
		struct dp_pool_member *m = member_add(out, def, f->address);
		if (!m)
			return dp_oom();
		member_fill_print(m, f);
		m->state = DP_MEMBER_MISSING;
		const struct view_claim *c = view_claim_find(v, f->address);
		if (c)
			snprintf(m->owner, sizeof(m->owner), "%s", c->owner);
		if (!(m->reason = strdup("not present: unplugged, or its VFs are not created")))
			return dp_oom();
	}
	return 0;
}

/* Device i as a member of def, when it is one; its fingerprint recorded if asked. */
static int view_member_add(struct pool_view *v, struct pool_db *p, const struct pool_def *def,
                           size_t i, bool record, struct dp_pool_members *out)
{
	const struct view_fingerprint *f = view_print_find(v, def->id, v->list->dev[i].address);
	bool matched = def_index_matches(v, i, def);
	if (!matched && !f)
		return 0;
	_cleanup_free_ char *diff = NULL;
	if (f && view_print_diff(v, f, i, &diff) < 0)
		return -ENOMEM;
	const struct view_claim *c = view_claim_find(v, v->list->dev[i].address);
	bool holds = (c && c->pool_id == def->id && strcmp(c->member, c->address) == 0) ||
	             view_quarantine_find(v, v->list->dev[i].address);
	if (!matched && !diff && !holds)
		return 0;   /* left the pool: its fingerprint goes at the next rule change */
	struct dp_pool_member *m = member_add(out, def, v->list->dev[i].address);
	if (!m)
		return dp_oom();
	member_fill_device(v, m, i);
	if (f)
		m->since = f->joined_at;
	int r = member_state(v, def, m, i, diff);
	if (r < 0)
		return r;
	return record && matched && !f ? print_record(v, p, def->id, i) : 0;
}

int view_members(struct pool_view *v, struct pool_db *p, size_t def_index, bool record,
                 struct dp_pool_members *out)
{
	const struct pool_def *def = &v->defs.d[def_index];
	for (size_t i = 0; i < v->list->n; i++) {
		int r = view_member_add(v, p, def, i, record, out);
		if (r < 0)
			return r;
	}
	return missing_add(v, def, out);
}

int view_prints_prune(struct pool_view *v, struct pool_db *p, size_t def_index)
{
	const struct pool_def *def = &v->defs.d[def_index];
	for (size_t k = 0; k < v->nprints; k++) {
		const struct view_fingerprint *f = &v->prints[k];
		const struct dp_pci_device *d = dp_pci_list_find(v->list, f->address);
		if (f->pool_id != def->id || !d)
			continue;
		size_t i = (size_t)(d - v->list->dev);
		/* a changed device the rules no longer match goes too: the next rule that
		 * matches it records it anew (rule rm + rule add accepts new hardware) */
		bool keep = def_index_matches(v, i, def) || view_claim_find(v, f->address) ||
		            view_quarantine_find(v, f->address);
		if (!keep && pool_db_run(p, "forget a member", "DELETE FROM members WHERE pool_id = ?1 "
		                         "AND address = ?2", "is", def->id, f->address) < 0)
			return -EIO;
	}
	return 0;
}

/* ---- public -------------------------------------------------------------------------- */

void dp_pool_members_free(struct dp_pool_members *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->m[i].reason);
		free(m->m[i].label);
	}
	free(m->m);
	dp_strv_free(&m->conflicts);
	memset(m, 0, sizeof(*m));
}

static int conflicts_collect(const struct pool_view *v, struct dp_strv *out)
{
	for (size_t i = 0; i < v->list->n; i++) {
		if (v->dev[i].pools.n <= 1)
			continue;
		_cleanup_free_ char *all = dp_strv_join(&v->dev[i].pools, ", ");
		if (!all || dp_strv_addf(out, "%s: pools %s", v->list->dev[i].address, all) < 0)
			return dp_oom();
	}
	return 0;
}

int dp_pool_members_read(const struct dp_pci_list *list, const char *pool,
                         struct dp_pool_members *out)
{
	struct pool_db p;
	struct pool_view v;
	memset(out, 0, sizeof(*out));
	int r = pool_db_open(&p, false);
	if (r < 0)
		return r;
	r = pool_view_build(&p, list, &v, true);
	if (r == 0 && pool && !pool_defs_find(&v.defs, pool))
		r = pool_missing_error(pool);
	for (size_t d = 0; r == 0 && d < v.defs.n; d++)
		if ((!pool || strcmp(v.defs.d[d].pool.name, pool) == 0) &&
		    v.defs.d[d].pool.type == DP_POOL_USB)
			r = usb_members(&p, &v.defs, &v.defs.d[d], out);
		else if ((!pool || strcmp(v.defs.d[d].pool.name, pool) == 0) &&
		         v.defs.d[d].pool.type == DP_POOL_MDEV)
			r = mdev_members(&p, list, &v.defs.d[d], out);
		else if (!pool || strcmp(v.defs.d[d].pool.name, pool) == 0)
			r = view_members(&v, &p, d, false, out);
	if (r == 0)
		r = conflicts_collect(&v, &out->conflicts);
	pool_view_free(&v);
	pool_db_close(&p);
	if (r < 0)
		dp_pool_members_free(out);
	return r;
}
