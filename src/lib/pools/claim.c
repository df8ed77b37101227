/* Claims: a free pool member (with the rest of its IOMMU group) goes to an owner.
 *
 * The choice and the record are one BEGIN IMMEDIATE transaction, and the claims table has
 * one row per function keyed by address, so two processes can never record the same
 * device. The binding happens after the commit, under the binding engine's group locks;
 * if it fails the claim is taken back. A process killed between the two leaves a claim
 * whose pid is dead: stale, and taken back by the next claim or by `pool gc`, which is
 * the same recovery as for a VM that died without releasing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binding/binding.h"
#include "fs/sysroot.h"
#include "pools/units.h"
#include "pools/vfclaim.h"
#include "pools/view.h"
#include "util/error.h"
#include "util/strutil.h"
#include "alloc-util.h"

/* The stale claims a claim took over, as they were: a claim whose bind fails gives them
 * back to their dead owners (gc or the next claim collects them, restoring the device),
 * rather than leaving their devices on vfio-pci with no claim at all. */
struct takeovers {
	struct view_claim *was;
	size_t n;
};

static void takeovers_free(struct takeovers *t)
{
	free(t->was);
	t->was = NULL;
	t->n = 0;
}
DEFINE_CLEANUP_STRUCT(takeovers, takeovers_free)

static int takeover_keep(struct takeovers *t, const struct view_claim *was)
{
	if (dp_array_grow(&t->was, t->n, 1, sizeof(*t->was)) < 0)
		return dp_error_set(-ENOMEM, "out of memory");
	t->was[t->n++] = *was;
	return 0;
}

static const struct view_claim *takeover_find(const struct takeovers *t, const char *member)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->was[i].member, member) == 0)
			return &t->was[i];
	return NULL;
}

void dp_claim_list_free(struct dp_claim_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		dp_strv_free(&l->c[i].functions);
	free(l->c);
	dp_strv_free(&l->warnings);
	memset(l, 0, sizeof(*l));
}

/* NULL when out of memory. */
static struct dp_claim *claim_add(struct dp_claim_list *l)
{
	if (dp_array_grow(&l->c, l->n, 1, sizeof(*l->c)) < 0)
		return NULL;
	struct dp_claim *c = &l->c[l->n++];
	memset(c, 0, sizeof(*c));
	c->group = DP_NO_GROUP;
	c->numa = DP_NO_NUMA;
	return c;
}

static int owner_check(const char *owner)
{
	size_t n = owner ? strlen(owner) : 0;
	if (n == 0 || n > 127)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "owner", "the owner name must be "
		                           "1-127 characters (the VM or tenant the devices are for)");
	if (!dp_utf8_text_valid(owner))
		return dp_error_set(-EINVAL, "the owner name must be printable UTF-8 text");
	return 0;
}

static int address_normalise(const char *text, char out[DP_ADDR_LEN])
{
	struct dp_pci_addr a;
	if (dp_pci_addr_parse(text, &a) < 0)
		return dp_error_set(-EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F or BB:SS.F)", text);
	dp_pci_addr_format(&a, out);
	return 0;
}

/* The functions a member takes with it: every endpoint of its IOMMU group. */
static int group_functions(const struct pool_view *v, const struct dp_pci_device *dev,
                           struct dp_strv *out)
{
	if (dp_strv_add(out, dev->address) < 0)
		return dp_oom();
	for (size_t i = 0; i < v->list->n; i++) {
		const struct dp_pci_device *m = &v->list->dev[i];
		if (m != dev && m->iommu_group == dev->iommu_group && !dp_pci_device_is_bridge(m) &&
		    dp_strv_add(out, m->address) < 0)
			return dp_oom();   /* a function left out would stay claimable by others */
	}
	return 0;
}

/* ---- choosing ---------------------------------------------------------------------------- */

struct candidate {
	const struct dp_pool_member *m;
	const struct view_claim *stale;   /* taken over from a dead process */
	bool numa_match;
};

static int candidate_order(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->numa_match != y->numa_match)
		return x->numa_match ? -1 : 1;
	if (!x->stale != !y->stale)   /* free devices before ones a dead owner left */
		return x->stale ? 1 : -1;
	return strcmp(x->m->address, y->m->address);
}

/* Why a named member cannot be had, in the user's terms. */
static int address_refusal(const struct dp_pool_members *m, const struct pool_def *def,
                           const char *address)
{
	const char *pool = def->pool.name;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->m[i].address, address) == 0 && m->m[i].stale &&
		    def->pool.on_release == DP_RELEASE_QUARANTINE)   /* quarantined on the way here */
			return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_CLEAR, address, "%s in pool '%s' is "
			                           "quarantined: %s's process %d is gone", address, pool,
			                           m->m[i].owner, m->m[i].pid);
		else if (strcmp(m->m[i].address, address) == 0)
			return dp_error_set(-EBUSY, "%s in pool '%s' is %s%s%s%s%s", address, pool,
			                    dp_member_state_name(m->m[i].state),
			                    m->m[i].owner[0] ? " by " : "", m->m[i].owner,
			                    m->m[i].reason ? ": " : "", m->m[i].reason ? m->m[i].reason : "");
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_SHOW, pool, "%s is not a member of pool "
	                           "'%s'", address, pool);
}

static int shortage_error(const struct dp_pool_members *m, const char *pool, size_t got,
                          unsigned want)
{
	size_t count[DP_MEMBER_UNAVAILABLE + 1] = {0};
	_cleanup_(dp_strv_freep) struct dp_strv parts = {0};
	for (size_t i = 0; i < m->n; i++)
		count[m->m[i].state]++;
	for (int s = DP_MEMBER_CLAIMED; s <= DP_MEMBER_UNAVAILABLE; s++)
		if (count[s] &&
		    dp_strv_addf(&parts, "%zu %s", count[s], dp_member_state_name((enum dp_member_state)s)) < 0)
			return dp_oom();
	_cleanup_free_ char *why = dp_strv_join(&parts, ", ");
	if (!why)
		return dp_oom();
	/* got counts IOMMU groups: members sharing one are claimed together, as one */
	int r = dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_SHOW, pool, "pool '%s' has %zu free "
	                            "device(s), %u asked%s%s%s: nothing was claimed", pool, got, want,
	                            why && *why ? " (" : "", why ? why : "", why && *why ? ")" : "");
	return r;
}

static int claim_rows_insert(struct pool_db *p, const struct pool_view *v, const struct pool_def *def,
                             const struct dp_claim_request *req, long long pid_start,
                             struct dp_claim *c)
{
	const struct dp_pci_device *dev = dp_pci_list_find(v->list, c->address);
	int err = group_functions(v, dev, &c->functions);
	if (err < 0)
		return err;
	for (size_t i = 0; i < c->functions.n; i++) {
		int r = pool_db_run(p, "record the claim", "INSERT INTO claims (address, pool_id, member, "
		                    "owner, pid, pid_start, claimed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		                    "sissiii", c->functions.v[i], def->id, c->address, req->owner,
		                    (long long)req->pid, pid_start, c->claimed_at);
		if (r < 0)
			return dp_error_set(-EBUSY, "%s is claimed already (%s)", c->functions.v[i],
			                    dp_error_message());
	}
	return 0;
}

/* A stale claim in a quarantine pool is not handed on: its device may hold the dead
 * tenant's data. It goes to quarantine instead. */
static int stale_quarantine(struct pool_db *p, const struct pool_def *def, const struct view_claim *c,
                            struct dp_claim_list *out)
{
	int r = pool_db_run(p, "quarantine", "DELETE FROM claims WHERE member = ?1", "s", c->member);
	if (r == 0)
		r = pool_db_run(p, "quarantine", "INSERT OR REPLACE INTO quarantine (address, pool_id, "
		                "owner, since) VALUES (?1, ?2, ?3, ?4)", "sisi", c->member, def->id,
		                c->owner, (long long)time(NULL));
	if (r == 0)
		dp_strv_addf(&out->warnings, "WARNING: %s was claimed by %s, whose process %d is gone; "
		             "pool '%s' quarantines released devices: it is claimable again once wiped "
		             "and cleared", c->member, c->owner, c->pid, def->pool.name);
	return r;
}

/* A process that is gone may have handed the device to another (a QEMU started by a
 * script that then exited): while anyone holds a function's nodes, the claim is not
 * stale enough to take away. */
static bool claim_in_use(const struct pool_view *v, const char *member, char *who, size_t size)
{
	for (size_t i = 0; i < v->nclaims; i++) {
		const struct dp_pci_device *d = dp_pci_list_find(v->list, v->claims[i].address);
		_cleanup_(dp_strv_freep) struct dp_strv users = {0};
		if (strcmp(v->claims[i].member, member) != 0 || !d)
			continue;
		int n = dp_device_users(d, &users);
		if (n < 0) {   /* unknown holders: not taken away */
			snprintf(who, size, "%s", dp_error_message());
			return true;
		}
		if (n > 0) {
			snprintf(who, size, "%s", users.v[0]);
			return true;
		}
	}
	return false;
}

/* One member per IOMMU group: the group goes whole, whoever else in it is a member. */
static bool group_taken(const struct dp_claim_list *out, int group)
{
	for (size_t i = 0; i < out->n; i++)
		if (out->c[i].group == group)
			return true;
	return false;
}

static size_t candidates_collect(struct pool_db *p, struct pool_view *v, const struct pool_def *def,
                                 const struct dp_pool_members *m, const struct dp_claim_request *req,
                                 struct candidate *cand, struct dp_claim_list *out, int *err)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n && *err == 0; i++) {
		const struct dp_pool_member *x = &m->m[i];
		const struct view_claim *stale = NULL;
		if (x->group >= 0 && group_taken(out, x->group))
			continue;   /* held by this owner already */
		if (x->state == DP_MEMBER_CLAIMED && x->stale) {
			char who[256];
			stale = view_claim_find(v, x->address);
			if (claim_in_use(v, x->address, who, sizeof(who))) {
				dp_strv_addf(&out->warnings, "WARNING: %s is claimed by %s, whose process %d is "
				             "gone, but %s: left alone", x->address, x->owner, x->pid, who);
				continue;
			}
			if (def->pool.on_release == DP_RELEASE_QUARANTINE) {
				*err = stale_quarantine(p, def, stale, out);
				continue;
			}
		} else if (x->state != DP_MEMBER_FREE) {
			continue;
		}
		if (req->address && strcmp(req->address, x->address) != 0)
			continue;
		cand[n].m = x;
		cand[n].stale = stale;
		cand[n].numa_match = req->numa >= 0 && x->numa == req->numa;
		n++;
	}
	qsort(cand, n, sizeof(*cand), candidate_order);
	return n;
}

static struct dp_claim *pick_add(struct dp_claim_list *out, const struct pool_def *def,
                                 const struct dp_claim_request *req, const struct candidate *cand)
{
	struct dp_claim *c = claim_add(out);
	if (!c)
		return NULL;
	snprintf(c->address, sizeof(c->address), "%s", cand->m->address);
	snprintf(c->pool, sizeof(c->pool), "%s", def->pool.name);
	snprintf(c->owner, sizeof(c->owner), "%s", req->owner);
	c->pid = req->pid;
	c->claimed_at = (long long)time(NULL);
	c->group = cand->m->group;
	c->numa = cand->m->numa;
	c->took_over = cand->stale != NULL;
	return c;
}

/* Writes the picks: stale claims taken over first, then one row per function. */
static int picks_record(struct pool_db *p, struct pool_view *v, const struct pool_def *def,
                        const struct dp_claim_request *req, struct dp_claim_list *out,
                        const struct candidate **picked, struct takeovers *took)
{
	long long pid_start = req->pid > 0 ? pid_start_time(req->pid) : 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < out->n; i++) {
		if (!picked[i])
			continue;   /* held already: its rows stand */
		if (picked[i]->stale) {
			dp_strv_addf(&out->warnings, "WARNING: took over %s from %s, whose process %d is gone",
			             out->c[i].address, picked[i]->stale->owner, picked[i]->stale->pid);
			r = takeover_keep(took, picked[i]->stale);
			if (r == 0)
				r = pool_db_run(p, "take over", "DELETE FROM claims WHERE member = ?1", "s",
				                out->c[i].address);
		}
		if (r == 0)
			r = claim_rows_insert(p, v, def, req, pid_start, &out->c[i]);
	}
	return r;
}

/* What the owner holds of this pool already counts towards the claim: claiming again at
 * every power-on (after a crash, after a reboot) gives a VM its devices back, not more. */
static int held_add(struct pool_db *p, const struct pool_view *v, const struct pool_def *def,
                    const struct dp_pool_members *m,
                    const struct dp_claim_request *req, struct dp_claim_list *out,
                    const struct candidate **picked)
{
	long long pid_start = req->pid > 0 ? pid_start_time(req->pid) : 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < m->n && out->n < req->count; i++) {
		const struct dp_pool_member *x = &m->m[i];
		if (x->state != DP_MEMBER_CLAIMED || strcmp(x->owner, req->owner) != 0 ||
		    (req->address && strcmp(req->address, x->address) != 0))
			continue;
		struct candidate held = {.m = x};
		picked[out->n] = NULL;
		struct dp_claim *c = pick_add(out, def, req, &held);
		if (!c)
			return dp_oom();
		c->held = true;
		for (size_t k = 0; k < v->nclaims; k++)
			if (strcmp(v->claims[k].member, x->address) == 0 &&
			    dp_strv_add(&c->functions, v->claims[k].address) < 0)
				return dp_oom();
		if (dp_strv_addf(&out->warnings, "note: %s holds %s of pool '%s' already", req->owner,
		             x->address, def->pool.name) < 0)
			return dp_oom();
		r = pool_db_run(p, "claim again", "UPDATE claims SET pid = ?1, pid_start = ?2 WHERE "
		                "member = ?3 AND owner = ?4", "iiss", (long long)req->pid, pid_start,
		                x->address, req->owner);
	}
	return r;
}

/* Chooses without writing, then records: a shortage leaves the claims table as it was.
 * *housekeeping tells whether stale claims were quarantined on the way (worth keeping
 * even when the claim itself fails). */
static int claim_choose(struct pool_db *p, struct pool_view *v, const struct pool_def *def,
                        const struct dp_claim_request *req, struct dp_claim_list *out,
                        bool *housekeeping, struct takeovers *took)
{
	_cleanup_(dp_pool_members_freep) struct dp_pool_members m = {0};
	dp_device_users_forget();   /* who holds what is read again, only if a claim is stale */
	*housekeeping = false;
	int r = view_members(v, p, (size_t)(def - v->defs.d), true, &m);
	if (r < 0)
		return r;
	_cleanup_free_ struct candidate *cand = calloc(m.n ? m.n : 1, sizeof(*cand));
	_cleanup_free_ const struct candidate **picked = calloc(req->count, sizeof(*picked));
	if (!cand || !picked)
		return dp_oom();
	r = held_add(p, v, def, &m, req, out, picked);
	size_t nheld = out->n, nnotes = out->warnings.n;
	size_t n = r == 0 ? candidates_collect(p, v, def, &m, req, cand, out, &r) : 0;
	*housekeeping = r == 0 && out->warnings.n > nnotes;
	for (size_t i = 0; r == 0 && i < n && out->n < req->count; i++)
		if (!group_taken(out, cand[i].m->group)) {
			picked[out->n] = &cand[i];
			if (!pick_add(out, def, req, &cand[i]))
				r = dp_oom();
		}
	if (r == 0 && out->n < req->count)
		r = req->address ? address_refusal(&m, def, req->address)
		                 : shortage_error(&m, def->pool.name, out->n - nheld, req->count - nheld);
	else if (r == 0 && (r = picks_record(p, v, def, req, out, picked, took)) < 0)
		*housekeeping = false;   /* half-written picks must not be committed */
	return r;
}

/* ---- binding ------------------------------------------------------------------------------ */

/* A member its owner holds and whose every function is on vfio-pci needs no binding: its
 * user may be the owner's own process (a VM's QEMU, claiming again to tie the claim to its
 * pid), which binding would refuse as "in use". */
static bool held_and_bound(const struct dp_claim *c)
{
	if (!c->held || c->functions.n == 0)
		return false;
	for (size_t i = 0; i < c->functions.n; i++) {
		char driver[64];
		if (dp_device_driver(c->functions.v[i], driver, sizeof(driver)) < 0 ||
		    strcmp(driver, "vfio-pci") != 0)
			return false;
	}
	return true;
}

/* Claims whose every function is on vfio-pci already write nothing to the kernel: no
 * live sysfs is needed (a libvirt hook claims at each start, also on a captured tree). */
static bool all_on_vfio(const struct dp_claim_list *out)
{
	for (size_t i = 0; i < out->n; i++)
		for (size_t f = 0; f < out->c[i].functions.n; f++) {
			char driver[64];
			if (dp_device_driver(out->c[i].functions.v[f], driver, sizeof(driver)) < 0 ||
			    strcmp(driver, "vfio-pci") != 0)
				return false;
		}
	return out->n > 0;
}

static int members_bind(const struct dp_pci_list *list, const struct dp_claim_list *out, int timeout_ms)
{
	_cleanup_free_ char **addrs = calloc(out->n + 1, sizeof(*addrs));
	if (!addrs)
		return dp_oom();
	size_t n = 0;
	for (size_t i = 0; i < out->n; i++)
		if (!held_and_bound(&out->c[i]))
			addrs[n++] = (char *)out->c[i].address;
	if (n == 0)
		return 0;
	struct dp_bind_options o = {.timeout_ms = timeout_ms};
	struct dp_bind_plan plan;
	int r = dp_bind_plan_make(DP_BIND, list, addrs, n, false, &o, &plan);
	if (r == 0)
		r = dp_bind_plan_apply(&plan, list, &o);
	dp_bind_plan_free(&plan);
	return r;
}

/* One member's rows go: back to the dead owner it was taken over from, else away. */
static int claim_take_back(struct pool_db *p, const struct dp_claim *c, const struct takeovers *took)
{
	const struct view_claim *was = takeover_find(took, c->address);
	if (!was)
		return pool_db_run(p, "take the claim back", "DELETE FROM claims WHERE member = ?1 AND "
		                   "owner = ?2", "ss", c->address, c->owner);
	return pool_db_run(p, "give the claim back", "UPDATE claims SET owner = ?1, pid = ?2, "
	                   "pid_start = ?3, claimed_at = ?4 WHERE member = ?5 AND owner = ?6", "siiiss",
	                   was->owner, (long long)was->pid, was->pid_start, was->claimed_at,
	                   c->address, c->owner);
}

static int claims_take_back(const struct dp_claim_list *out, const struct takeovers *took)
{
	struct pool_db p;
	int r = pool_db_open(&p, true);
	if (r == 0)
		r = pool_db_begin(&p);
	for (size_t i = 0; r == 0 && i < out->n; i++)
		if (!out->c[i].held)   /* what the owner held before stays held */
			r = claim_take_back(&p, &out->c[i], took);
	if (r == 0)
		r = pool_db_commit(&p);
	pool_db_close(&p);
	return r;
}

/* What a dead owner may have left on the device is not the next owner's business. */
static void function_reset(const struct dp_pci_list *list, const char *address, int timeout_ms,
                           struct dp_strv *warnings, bool *done)
{
	const struct dp_pci_device *d = dp_pci_list_find(list, address);
	char methods[128];
	if (!d || dp_reset_methods(d, methods, sizeof(methods)) < 0)
		return;   /* no reset at all: nothing to try */
	struct dp_pci_device now = *d;
	dp_device_driver(address, now.driver, sizeof(now.driver));
	if (strcmp(now.driver, "vfio-pci") != 0)
		return;
	if (dp_reset_apply(&now, timeout_ms) < 0)
		dp_strv_addf(warnings, "WARNING: %s could not be reset: %s", address, dp_error_message());
	else if (done)
		*done = true;
}

static int request_check(const struct dp_claim_request *req)
{
	int r = owner_check(req->owner);
	if (r == 0 && (req->count < 1 || req->count > 4096))
		r = dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "count", "the count must be a "
		                        "number from 1 to 4096");
	if (r == 0 && req->pid > 0 && !pid_alive(req->pid, 0))
		r = dp_error_set_remedy(-ESRCH, DP_REMEDY_PARAMETER, "pid", "process %d does not exist: "
		                        "a claim lives with a running process (0: until released)",
		                        (int)req->pid);
	if (r == 0 && req->address && req->count != 1)
		r = dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "count", "a claim of one member "
		                        "by its address takes one device, not a count of them");
	return r;
}

static int pool_claimable(const struct pool_def *def, const char *name)
{
	if (!def)
		return pool_missing_error(name);
	return 0;
}

static int claim_record(const struct dp_pci_list *list, const struct dp_claim_request *req,
                        struct dp_claim_list *out, struct takeovers *took)
{
	struct pool_db p;
	struct pool_view v;
	int r = pool_db_open(&p, true);
	if (r < 0)
		return r;
	if ((r = pool_db_begin(&p)) < 0) {
		pool_db_close(&p);
		return r;
	}
	r = pool_view_build(&p, list, &v, true);
	struct pool_def *def = r == 0 ? pool_defs_find(&v.defs, req->pool) : NULL;
	if (r == 0)
		r = pool_claimable(def, req->pool);
	if (r == 0)
		r = vf_claim_check(def, req);
	bool housekeeping = false;
	if (r == 0)
		r = claim_choose(&p, &v, def, req, out, &housekeeping, took);
	if (r == 0 && req->vf)   /* before the bind: the VF's settings are the PF's to set */
		r = vf_claim_apply(&p, out, req->vf);
	if (r == 0 && !all_on_vfio(out) && (r = dp_fs_require_kernel()) < 0)
		housekeeping = false;   /* the binding cannot happen: nothing at all changes */
	if (r == 0) {
		r = pool_db_commit(&p);
	} else if (housekeeping) {   /* the claim failed; the quarantining stands */
		char why[1024];
		snprintf(why, sizeof(why), "%s", dp_error_message());
		pool_db_commit(&p);
		dp_error_set(r, "%s", why);
	} else {
		pool_db_rollback(&p);
	}
	pool_view_free(&v);
	pool_db_close(&p);
	return r;
}

int dp_pool_claim(const struct dp_pci_list *list, const struct dp_claim_request *in,
                  struct dp_claim_list *out)
{
	struct dp_claim_request req = *in;
	char address[DP_ADDR_LEN];
	_cleanup_(takeovers_freep) struct takeovers took = {0};
	memset(out, 0, sizeof(*out));
	int r = request_check(&req);
	enum dp_pool_type type = DP_POOL_PCI;
	if (r == 0 && unit_pool_type(req.pool, &type) == 0 &&
	    (type == DP_POOL_USB || type == DP_POOL_MDEV)) {
		/* nothing to bind: the record is the claim (for mdev, with the devices it made) */
		r = type == DP_POOL_USB ? usb_pool_claim(&req, out) : mdev_pool_claim(list, &req, out);
		if (r < 0)
			dp_claim_list_free(out);
		return r;
	}
	if (r == 0 && req.address && (r = address_normalise(req.address, address)) == 0)
		req.address = address;
	if (r == 0)
		r = claim_record(list, &req, out, &took);
	if (r < 0) {   /* no claim; warnings about stale claims quarantined on the way stay */
		struct dp_strv warnings = out->warnings;
		memset(&out->warnings, 0, sizeof(out->warnings));
		dp_claim_list_free(out);
		out->warnings = warnings;
		return r;
	}
	if ((r = members_bind(list, out, req.timeout_ms)) < 0) {
		char why[1024];
		snprintf(why, sizeof(why), "%s", dp_error_message());
		int t = claims_take_back(out, &took);
		dp_claim_list_free(out);
		return dp_error_set(r, "%s; the claim was taken back%s", why,
		                    t < 0 ? " only in part (pool gc collects the rest once this process "
		                            "has exited)" : "");
	}
	for (size_t i = 0; i < out->n; i++)
		for (size_t f = 0; out->c[i].took_over && f < out->c[i].functions.n; f++)
			function_reset(list, out->c[i].functions.v[f], req.timeout_ms, &out->warnings, NULL);
	return 0;
}

/* ---- release ------------------------------------------------------------------------------- */

struct release_item {
	const struct view_claim *claim;   /* the member's row */
	const struct pool_def *def;
	struct dp_strv functions;
};

static void items_free(struct release_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dp_strv_free(&items[i].functions);
	free(items);
}

/* NULL when out of memory. */
static struct release_item *item_for(struct release_item **items, size_t *n,
                                     const struct pool_view *v, const struct view_claim *c)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*items)[i].claim->member, c->member) == 0)
			return &(*items)[i];
	if (dp_array_grow(items, *n, 1, sizeof(**items)) < 0)
		return NULL;
	struct release_item *it = &(*items)[(*n)++];
	memset(it, 0, sizeof(*it));
	it->claim = view_claim_find(v, c->member);
	if (!it->claim)
		it->claim = c;
	for (size_t d = 0; d < v->defs.n; d++)
		if (v->defs.d[d].id == c->pool_id)
			it->def = &v->defs.d[d];
	return it;
}

/* address goes with the item of c's member: a function left out would not be restored. */
static int item_function_add(struct release_item **items, size_t *n, const struct pool_view *v,
                             const struct view_claim *c, const char *address)
{
	struct release_item *it = item_for(items, n, v, c);
	if (!it || dp_strv_add(&it->functions, address) < 0)
		return dp_oom();
	return 0;
}

static int functions_restore(const struct dp_pci_list *list, const struct dp_strv *functions,
                             int timeout_ms)
{
	_cleanup_(dp_strv_freep) struct dp_strv present = {0};
	for (size_t i = 0; i < functions->n; i++)
		if (dp_pci_list_find(list, functions->v[i]) && dp_strv_add(&present, functions->v[i]) < 0)
			return dp_oom();
	struct dp_bind_options o = {.timeout_ms = timeout_ms};
	struct dp_bind_plan plan;
	int r = 0;
	if (present.n) {
		r = dp_bind_plan_make(DP_RESTORE, list, present.v, present.n, false, &o, &plan);
		if (r == 0)
			r = dp_bind_plan_apply(&plan, list, &o);
		dp_bind_plan_free(&plan);
	}
	return r;
}

/* For the time of a release the claim rows carry this process's pid, if they are still
 * the claim the view saw: a claim that took the member over meanwhile (its process was
 * gone) is left alone, and nobody takes over a device this release is still resetting
 * or restoring. Returns 1 when taken, 0 when the claim is not there any more. */
static int item_take(struct pool_db *p, const struct release_item *it, long long me, long long start)
{
	int r = pool_db_begin(p);
	if (r == 0)
		r = pool_db_run(p, "release", "UPDATE claims SET pid = ?1, pid_start = ?2 WHERE member = ?3 "
		                "AND owner = ?4 AND claimed_at = ?5 AND pid = ?6", "iissii", me, start,
		                it->claim->member, it->claim->owner, it->claim->claimed_at,
		                (long long)it->claim->pid);
	int taken = r == 0 && sqlite3_changes(p->db) > 0;
	if (r == 0 && (r = pool_db_commit(p)) == 0)
		return taken;
	pool_db_rollback(p);
	return r;
}

/* A release that failed leaves the claim with its owner's process again. */
static void item_give_back(struct pool_db *p, const struct release_item *it, long long me)
{
	pool_db_run(p, "release", "UPDATE claims SET pid = ?1, pid_start = ?2 WHERE member = ?3 AND "
	            "owner = ?4 AND pid = ?5", "iissi", (long long)it->claim->pid,
	            it->claim->pid_start, it->claim->member, it->claim->owner, me);
}

static int item_forget(struct pool_db *p, const struct release_item *it, bool quarantine)
{
	int r = pool_db_begin(p);
	if (r == 0)
		r = pool_db_run(p, "release", "DELETE FROM claims WHERE member = ?1 AND owner = ?2 AND "
		                "pid = ?3", "ssi", it->claim->member, it->claim->owner, (long long)getpid());
	if (r == 0 && quarantine)
		r = pool_db_run(p, "quarantine", "INSERT OR REPLACE INTO quarantine (address, pool_id, "
		                "owner, since) VALUES (?1, ?2, ?3, ?4)", "sisi", it->claim->member,
		                it->claim->pool_id, it->claim->owner, (long long)time(NULL));
	if (r == 0)
		return pool_db_commit(p);
	pool_db_rollback(p);
	return r;
}

static int item_release(struct pool_db *p, const struct dp_pci_list *list, struct release_item *it,
                        int timeout_ms, struct dp_claim_list *out)
{
	long long me = getpid();
	int taken = item_take(p, it, me, pid_start_time((int)me));
	if (taken <= 0) {
		if (taken == 0)
			dp_strv_addf(&out->warnings, "WARNING: %s was taken over by another claim while "
			             "being released: left to its new owner", it->claim->member);
		return taken;
	}
	struct dp_claim *c = claim_add(out);
	if (!c) {
		item_give_back(p, it, me);
		return dp_oom();
	}
	enum dp_release_policy policy = it->def ? it->def->pool.on_release : DP_RELEASE_RESTORE;
	const struct dp_pci_device *dev = dp_pci_list_find(list, it->claim->member);
	snprintf(c->address, sizeof(c->address), "%s", it->claim->member);
	snprintf(c->pool, sizeof(c->pool), "%s", it->def ? it->def->pool.name : "?");
	snprintf(c->owner, sizeof(c->owner), "%s", it->claim->owner);
	c->pid = it->claim->pid;
	c->claimed_at = it->claim->claimed_at;
	c->group = dev ? dev->iommu_group : DP_NO_GROUP;
	c->numa = dev ? dev->numa_node : DP_NO_NUMA;
	for (size_t f = 0; f < it->functions.n; f++) {
		dp_strv_add(&c->functions, it->functions.v[f]);
		function_reset(list, it->functions.v[f], timeout_ms, &out->warnings,
		               strcmp(it->functions.v[f], c->address) == 0 ? &c->reset : NULL);
	}
	int r = policy == DP_RELEASE_RESTORE ? functions_restore(list, &it->functions, timeout_ms) : 0;
	if (r < 0) {
		out->n--;
		dp_strv_free(&c->functions);
		item_give_back(p, it, me);
		return dp_error_set(r, "%s stays claimed by %s: %s", it->claim->member, it->claim->owner,
		                    dp_error_message());
	}
	snprintf(c->action, sizeof(c->action), "%s", !dev ? "forgotten (not present)"
	         : policy == DP_RELEASE_RESTORE ? "restored"
	         : policy == DP_RELEASE_KEEP_VFIO ? "kept on vfio-pci" : "quarantined");
	if (vf_claim_undo(p, it->claim->member) < 0)   /* the device is back; the PF may be down */
		dp_strv_addf(&out->warnings, "WARNING: the MAC/VLAN the claim set on %s could not be "
		             "cleared: %s", it->claim->member, dp_error_message());
	return item_forget(p, it, policy == DP_RELEASE_QUARANTINE);
}

static int items_release(struct pool_db *p, const struct dp_pci_list *list, struct release_item *items,
                         size_t n, int timeout_ms, struct dp_claim_list *out)
{
	int first = 0;
	char why[1024] = "";
	for (size_t i = 0; i < n; i++) {
		int r = item_release(p, list, &items[i], timeout_ms, out);
		if (r < 0 && !first) {   /* the others still go: one stuck device holds no one else */
			first = r;
			snprintf(why, sizeof(why), "%s", dp_error_message());
		}
	}
	return first ? dp_error_set(first, "%s", why) : 0;
}

/* Whether the user asked for this claim row's member: by the member's address or by any
 * function claimed with it. */
static bool claim_wanted(const struct pool_view *v, const struct view_claim *c, const char *owner,
                         char addrs[][DP_ADDR_LEN], size_t n, bool *used)
{
	bool wanted = n == 0;
	for (size_t k = 0; k < n; k++) {
		const struct view_claim *a = view_claim_find(v, addrs[k]);
		if (a && strcmp(a->owner, owner) == 0 && strcmp(a->member, c->member) == 0)
			wanted = used[k] = true;
	}
	return wanted;
}

static int owner_items(const struct pool_view *v, const char *owner, char addrs[][DP_ADDR_LEN],
                       size_t naddrs, struct release_item **items, size_t *n)
{
	_cleanup_free_ bool *used = calloc(naddrs + 1, sizeof(*used));
	if (!used)
		return dp_oom();
	int r = 0;
	for (size_t i = 0; i < v->nclaims; i++) {
		const struct view_claim *c = &v->claims[i];
		if (strcmp(c->owner, owner) == 0 && claim_wanted(v, c, owner, addrs, naddrs, used) &&
		    (r = item_function_add(items, n, v, c, c->address)) < 0)
			return r;
	}
	for (size_t k = 0; k < naddrs && r == 0; k++)
		if (!used[k])
			r = dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_SHOW, NULL, "%s is not claimed by "
			                        "'%s'", addrs[k], owner);
	if (r == 0 && *n == 0)
		r = dp_error_set(-ENOENT, "'%s' holds no claimed devices", owner);
	return r;
}

static int pci_release(const struct dp_pci_list *list, const char *owner, char *const *addrs,
                       size_t naddrs, int timeout_ms, struct dp_claim_list *out)
{
	struct pool_db p;
	struct pool_view v;
	struct release_item *items = NULL;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	int r = owner_check(owner);
	if (r < 0)
		return r;
	_cleanup_free_ char (*wanted)[DP_ADDR_LEN] = calloc(naddrs + 1, DP_ADDR_LEN);
	if (!wanted)
		return dp_oom();
	for (size_t i = 0; i < naddrs; i++)
		if ((r = address_normalise(addrs[i], wanted[i])) < 0)
			return r;
	if ((r = pool_db_open(&p, true)) < 0)
		return r;
	r = pool_view_build(&p, list, &v, false);
	if (r == 0)
		r = owner_items(&v, owner, wanted, naddrs, &items, &n);
	if (r == 0)
		r = items_release(&p, list, items, n, timeout_ms, out);
	items_free(items, n);
	pool_view_free(&v);
	pool_db_close(&p);
	return r;
}

/* Moves src's rows and warnings to the end of dst. */
static int claim_lists_join(struct dp_claim_list *dst, struct dp_claim_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct dp_claim *c = claim_add(dst);
		if (!c)
			return dp_oom();
		*c = src->c[i];
		src->c[i].functions = (struct dp_strv){0};
	}
	for (size_t i = 0; i < src->warnings.n; i++)
		if (dp_strv_add(&dst->warnings, src->warnings.v[i]) < 0)
			return dp_oom();
	if (src->next)
		dst->next = src->next;
	dp_claim_list_free(src);
	return 0;
}

/* A USB port ("3-1.2") or member identity ("046d:c52b:SERIAL", "046d:c52b@3-1"); the
 * rest is for the PCI release, which says what a PCI address looks like. */
static bool looks_usb(const char *text)
{
	size_t bus = strspn(text, "0123456789");
	if (bus > 0 && text[bus] == '-' && text[bus + 1])
		return strspn(text + bus + 1, "0123456789.") == strlen(text + bus + 1);
	return strlen(text) >= 9 && strspn(text, "0123456789abcdef") == 4 && text[4] == ':' &&
	       strspn(text + 5, "0123456789abcdef") == 4 && text[9] && strchr(":@", text[9]);
}

/* USB ports and ids, and mdev uuids, name unit claims. */
static bool looks_unit(const char *text)
{
	return looks_usb(text) || dp_mdev_uuid_valid(text);
}

/* PCI addresses go to the PCI release, the rest (USB ports and ids, mdev uuids) to the
 * unit claims. */
static int release_split(char *const *addrs, size_t n, char ***pci, size_t *npci, char ***units,
                         size_t *nunits)
{
	*pci = calloc(n + 1, sizeof(**pci));
	*units = calloc(n + 1, sizeof(**units));
	if (!*pci || !*units)
		return dp_oom();
	for (size_t i = 0; i < n; i++)
		if (looks_unit(addrs[i]))
			(*units)[(*nunits)++] = addrs[i];
		else
			(*pci)[(*npci)++] = addrs[i];
	return 0;
}

int dp_pool_release(const struct dp_pci_list *list, const char *owner, char *const *addrs,
                    size_t naddrs, int timeout_ms, struct dp_claim_list *out)
{
	_cleanup_free_ char **pci = NULL, **units = NULL;
	size_t npci = 0, nunits = 0;
	struct dp_claim_list unit_out = {0};
	memset(out, 0, sizeof(*out));
	int r = owner_check(owner);
	if (r == 0)
		r = release_split(addrs, naddrs, &pci, &npci, &units, &nunits);
	int released = r == 0 && (naddrs == 0 || nunits) ?
	               units_release(owner, units, nunits, false, timeout_ms, &unit_out) : 0;
	if (r == 0 && released < 0) {
		dp_claim_list_free(&unit_out);
		return released;
	}
	if (r == 0 && (naddrs == 0 || npci))
		r = pci_release(list, owner, pci, npci, timeout_ms, out);
	if (r == -ENOENT && naddrs == 0 && released > 0)   /* the owner held only USB devices */
		r = 0;
	if (r == 0)
		r = claim_lists_join(out, &unit_out);
	dp_claim_list_free(&unit_out);
	return r;
}

static int units_gc(int timeout_ms, struct dp_claim_list *out)
{
	struct dp_claim_list u = {0};
	int r = units_release(NULL, NULL, 0, true, timeout_ms, &u);
	r = r < 0 ? r : claim_lists_join(out, &u);
	dp_claim_list_free(&u);
	return r;
}

static int units_append(const char *owner, struct dp_claim_list *out)
{
	struct dp_claim_list u = {0};
	int r = units_claims_read(owner, &u);
	r = r < 0 ? r : claim_lists_join(out, &u);
	dp_claim_list_free(&u);
	return r;
}

/* Members gone for good (never to come back) are forgotten with nothing to release. */
static void missing_forget(struct pool_db *p, const struct pool_view *v, struct dp_claim_list *out)
{
	for (size_t i = 0; i < v->nprints; i++) {
		const struct view_fingerprint *f = &v->prints[i];
		if (dp_pci_list_find(v->list, f->address) || view_claim_find(v, f->address) ||
		    view_quarantine_find(v, f->address))
			continue;   /* a quarantined device keeps its fingerprint for when it is back */
		if (pool_db_run(p, "forget", "DELETE FROM members WHERE pool_id = ?1 AND address = ?2",
		                "is", f->pool_id, f->address) == 0)
			dp_strv_addf(&out->warnings, "forgot %s: not present, and it held nothing", f->address);
	}
}

int dp_pool_gc(const struct dp_pci_list *list, int timeout_ms, struct dp_claim_list *out)
{
	struct pool_db p;
	struct pool_view v;
	struct release_item *items = NULL;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	int r = pool_db_open(&p, true);
	if (r < 0)
		return r;
	r = pool_view_build(&p, list, &v, false);
	dp_device_users_forget();
	/* decided once per claim (its member's row), then every function of it goes along */
	for (size_t i = 0; r == 0 && i < v.nclaims; i++) {
		char who[256];
		const struct view_claim *c = &v.claims[i];
		if (!c->stale || strcmp(c->address, c->member) != 0)
			continue;
		if (claim_in_use(&v, c->member, who, sizeof(who))) {
			dp_strv_addf(&out->warnings, "WARNING: %s is claimed by %s, whose process %d is gone, "
			             "but %s: left alone", c->member, c->owner, c->pid, who);
			continue;
		}
		for (size_t k = 0; r == 0 && k < v.nclaims; k++)
			if (strcmp(v.claims[k].member, c->member) == 0)
				r = item_function_add(&items, &n, &v, c, v.claims[k].address);
	}
	if (r == 0)
		r = items_release(&p, list, items, n, timeout_ms, out);
	if (r == 0)
		missing_forget(&p, &v, out);
	if (r == 0)
		r = units_gc(timeout_ms, out);
	items_free(items, n);
	pool_view_free(&v);
	pool_db_close(&p);
	return r;
}

int dp_claims_read(const struct dp_pci_list *list, const char *owner, struct dp_claim_list *out)
{
	struct pool_db p;
	struct pool_view v;
	struct release_item *items = NULL;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	int r = pool_db_open(&p, false);
	if (r < 0 || !p.db)
		return r;
	r = pool_view_build(&p, list, &v, false);
	for (size_t i = 0; r == 0 && i < v.nclaims; i++)
		if (!owner || strcmp(v.claims[i].owner, owner) == 0)
			r = item_function_add(&items, &n, &v, &v.claims[i], v.claims[i].address);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct dp_pci_device *dev = dp_pci_list_find(list, items[i].claim->member);
		struct dp_claim *c = claim_add(out);
		if (!c) {
			r = dp_oom();
			break;
		}
		snprintf(c->address, sizeof(c->address), "%s", items[i].claim->member);
		snprintf(c->pool, sizeof(c->pool), "%s", items[i].def ? items[i].def->pool.name : "?");
		snprintf(c->owner, sizeof(c->owner), "%s", items[i].claim->owner);
		c->pid = items[i].claim->pid;
		c->claimed_at = items[i].claim->claimed_at;
		c->group = dev ? dev->iommu_group : DP_NO_GROUP;
		c->numa = dev ? dev->numa_node : DP_NO_NUMA;
		for (size_t f = 0; r == 0 && f < items[i].functions.n; f++)
			r = dp_strv_add(&c->functions, items[i].functions.v[f]);
		if (r == 0 && items[i].claim->stale) {
			r = dp_strv_addf(&out->warnings, "WARNING: %s: the process %d of %s is gone: a pool "
			             "gc collects the claim", c->address, c->pid, c->owner);
			out->next = DP_REMEDY_POOL_GC;
		}
		if (r < 0)
			r = dp_oom();
	}
	if (r == 0)
		r = units_append(owner, out);
	if (r < 0)
		dp_claim_list_free(out);
	items_free(items, n);
	pool_view_free(&v);
	pool_db_close(&p);
	return r;
}

int dp_pool_clear(const char *address)
{
	struct pool_db p;
	char addr[DP_ADDR_LEN];
	int r = address_normalise(address, addr);
	if (r < 0 || (r = pool_db_open(&p, true)) < 0)
		return r;
	r = pool_db_run(&p, "clear", "DELETE FROM quarantine WHERE address = ?1", "s", addr);
	if (r == 0 && sqlite3_changes(p.db) == 0)
		r = dp_error_set(-ENOENT, "%s is not quarantined", addr);
	pool_db_close(&p);
	return r;
}
