/* USB pools: members are the USB devices the usb unit sees that a pool's rules match. A
 * claim makes a device its owner's alone — recorded, nothing to bind: QEMU's usb-host
 * opens it through usbfs when the VM starts. The member is known by vid:pid+serial (by
 * its port when it has no serial), so a claim stays with the device across a replug, a
 * move to another port (with a serial) and a reboot, where bus and device numbers change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/units.h"
#include "util/error.h"
#include "util/strutil.h"

#define USB_MAX_IFS 32

static void usb_unit(const struct dp_usb_device *d, char *out, size_t size)
{
	if (d->has_serial)
		snprintf(out, size, "%04x:%04x:%s", d->vendor_id, d->product_id, d->serial);
	else
		snprintf(out, size, "%04x:%04x@%s", d->vendor_id, d->product_id, d->location);
}

static bool usb_rule_matches(const struct dp_rule *rule, const struct dp_usb_device *d)
{
	uint8_t classes[USB_MAX_IFS];
	char name[256];
	size_t n = d->nifs < USB_MAX_IFS ? d->nifs : USB_MAX_IFS;
	for (size_t i = 0; i < n; i++)
		classes[i] = d->ifs[i].cls;
	snprintf(name, sizeof(name), "%s%s%s", d->vendor ? d->vendor : "",
	         d->vendor && *d->vendor && d->product && *d->product ? " " : "",
	         d->product ? d->product : "");
	struct dp_rule_usb_subject s = {
		.vendor = d->vendor_id, .product = d->product_id,
		.serial = d->has_serial ? d->serial : "", .port = d->location,
		.cls = d->cls, .subclass = d->subclass, .protocol = d->protocol,
		.if_classes = classes, .nifs = n, .name = name, .controller = d->controller};
	return dp_rule_match_usb(rule, &s);
}

static bool usb_def_matches(const struct pool_def *def, const struct dp_usb_device *d)
{
	if (def->pool.type != DP_POOL_USB)
		return false;
	for (size_t r = 0; r < def->nrules; r++)
		if (usb_rule_matches(&def->rules[r], d))
			return true;
	return false;
}

/* Why this device cannot be claimed from def, or NULL. why holds the text. */
static const char *usb_refusal(const struct pool_defs *defs, const struct pool_def *def,
                               const struct dp_usb_device *d, char *why, size_t size)
{
	if (d->critical)
		snprintf(why, size, "the host needs it: %s", d->critical_reason ? d->critical_reason : "");
	else if (d->in_use)   /* in_use_by: the process, or "usbfs" when none shows it */
		snprintf(why, size, "claimed through usbfs%s%s",
		         strcmp(d->in_use_by, "usbfs") ? " by " : "",
		         strcmp(d->in_use_by, "usbfs") ? d->in_use_by : "");
	else if (d->hub)
		snprintf(why, size, "it is a hub: QEMU passes devices, not hubs");
	else
		for (size_t i = 0, other = 0; i < defs->n && !other; i++)
			if (&defs->d[i] != def && usb_def_matches(&defs->d[i], d) && (other = 1))
				snprintf(why, size, "pool '%s' matches it too", defs->d[i].pool.name);
	return *why ? why : NULL;
}

struct usb_claim_ctx {
	struct pool_db *p;
	const struct pool_defs *defs;
	const struct pool_def *def;
	const struct dp_claim_request *req;
	struct unit_claims held;      /* every usb claim */
	struct dp_claim_list *out;
	long long pid_start;
};

static const struct dp_usb_device *usb_find_unit(const struct dp_usb_list *list, const char *unit)
{
	char u[192];
	for (size_t i = 0; i < list->n; i++) {
		usb_unit(&list->d[i], u, sizeof(u));
		if (strcmp(u, unit) == 0)
			return &list->d[i];
	}
	return NULL;
}

/* What the owner holds in this pool already counts (claimed again at every VM start). */
static int usb_held_add(struct usb_claim_ctx *x, const struct dp_usb_list *list, unsigned *have)
{
	for (size_t i = 0; i < x->held.n; i++) {
		struct unit_claim *c = &x->held.c[i];
		if (c->pool_id != x->def->id || strcmp(c->owner, x->req->owner) != 0)
			continue;
		const struct dp_usb_device *d = usb_find_unit(list, c->unit);
		int r = pool_db_run(x->p, "renew the claim", "UPDATE unit_claims SET pid = ?1, "
		                    "pid_start = ?2 WHERE kind = 'usb' AND unit = ?3", "iis",
		                    (long long)x->req->pid, x->pid_start, c->unit);
		c->pid = x->req->pid;
		struct dp_claim *o = r == 0 ? unit_claim_report(x->out, c, d ? d->location : "") : NULL;
		if (r < 0 || !o)
			return r < 0 ? r : dp_oom();
		o->held = true;
		if (!d)
			dp_strv_addf(&x->out->warnings, "%s (held by '%s') is not plugged in now", c->unit,
			             c->owner);
		(*have)++;
	}
	return 0;
}

/* A free device, or one whose claimant's process is gone (taken over). */
static bool usb_takeable(struct usb_claim_ctx *x, const char *unit, const struct unit_claim **stale)
{
	const struct unit_claim *c = unit_claim_find(&x->held, "usb", unit);
	*stale = c && c->stale ? c : NULL;
	return !c || c->stale;
}

static int usb_take(struct usb_claim_ctx *x, const struct dp_usb_device *d, const char *unit,
                    const struct unit_claim *stale)
{
	struct unit_claim c = {.kind = "usb", .pool_id = x->def->id, .pid = x->req->pid,
	                       .pid_start = x->pid_start, .claimed_at = (long long)time(NULL)};
	snprintf(c.unit, sizeof(c.unit), "%s", unit);
	snprintf(c.pool, sizeof(c.pool), "%s", x->def->pool.name);
	snprintf(c.owner, sizeof(c.owner), "%s", x->req->owner);
	snprintf(c.place, sizeof(c.place), "%s", d->location);
	int r = stale ? unit_claim_delete(x->p, stale) : 0;
	if (r == 0)
		r = unit_claim_insert(x->p, &c);
	struct dp_claim *o = r == 0 ? unit_claim_report(x->out, &c, d->location) : NULL;
	if (r == 0 && !o)
		return dp_oom();
	if (o && stale) {
		o->took_over = true;
		dp_strv_addf(&x->out->warnings, "took %s over from %s, whose process %d is gone", unit,
		             stale->owner, stale->pid);
	}
	return r;
}

static bool usb_named(const struct dp_claim_request *req, const struct dp_usb_list *list,
                      const struct dp_usb_device *d)
{
	struct dp_usb_device *found = NULL;
	return !req->address || (dp_usb_lookup(list, req->address, &found) == 0 && found == d);
}

static int usb_shortage(const struct usb_claim_ctx *x, unsigned have, unsigned skipped,
                        const char *last_why)
{
	const char *pool = x->def->pool.name;
	if (x->req->address)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_SHOW, pool, "USB device %s cannot be "
		                           "claimed from pool '%s': %s; nothing was claimed",
		                           x->req->address, pool, last_why ? last_why
		                           : "it is not a free member of the pool");
	return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_SHOW, pool, "pool '%s' has %u free USB "
	                           "device(s), %u asked (%u member(s) not claimable%s%s): nothing "
	                           "was claimed", pool, have, x->req->count, skipped,
	                           last_why ? ", e.g. " : "", last_why ? last_why : "");
}

static int usb_choose(struct usb_claim_ctx *x, const struct dp_usb_list *list)
{
	unsigned have = 0, skipped = 0;
	char why[256], last[320] = "";
	int r = x->req->address ? 0 : usb_held_add(x, list, &have);
	for (size_t i = 0; r == 0 && have < x->req->count && i < list->n; i++) {
		const struct dp_usb_device *d = &list->d[i];
		const struct unit_claim *stale;
		char unit[192];
		why[0] = '\0';
		if (!usb_def_matches(x->def, d) || !usb_named(x->req, list, d))
			continue;
		usb_unit(d, unit, sizeof(unit));
		if (!usb_takeable(x, unit, &stale))
			snprintf(why, sizeof(why), "claimed by '%s'", unit_claim_find(&x->held, "usb", unit)->owner);
		if (*why || usb_refusal(x->defs, x->def, d, why, sizeof(why))) {
			skipped++;
			snprintf(last, sizeof(last), "%s: %s", d->location, why);
			continue;
		}
		if ((r = usb_take(x, d, unit, stale)) == 0)
			have++;
	}
	return r < 0 ? r : have < x->req->count ? usb_shortage(x, have, skipped, *last ? last : NULL) : 0;
}

static int usb_claim_txn(struct pool_db *p, const struct dp_usb_list *list,
                         const struct dp_claim_request *req, struct dp_claim_list *out)
{
	_cleanup_(pool_defs_freep) struct pool_defs defs = {0};
	struct usb_claim_ctx x = {.p = p, .req = req, .out = out,
	                          .pid_start = req->pid > 0 ? pid_start_time(req->pid) : 0};
	int r = pool_defs_load(p, &defs);
	x.defs = &defs;
	if (r == 0 && !(x.def = pool_defs_find(&defs, req->pool)))
		r = pool_missing_error(req->pool);
	if (r == 0)
		r = unit_claims_load(p, "usb", &x.held);
	if (r == 0)
		r = usb_choose(&x, list);
	unit_claims_free(&x.held);
	return r;
}

int usb_pool_claim(const struct dp_claim_request *req, struct dp_claim_list *out)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	struct dp_usb_list list = {0};
	int r = dp_usb_scan(&list, 0);
	if (r == 0 && (r = pool_db_open(&p, true)) == 0 && (r = pool_db_begin(&p)) == 0) {
		r = usb_claim_txn(&p, &list, req, out);
		if (r == 0)
			r = pool_db_commit(&p);
		else
			pool_db_rollback(&p);
	}
	dp_usb_list_free(&list);
	return r;   /* on failure out holds rows of the rolled-back choice: the caller frees it */
}

/* ---- members and counts ------------------------------------------------------------ */

size_t usb_rule_count(const struct dp_rule *rule)
{
	struct dp_usb_list list = {0};
	size_t n = 0;
	if (dp_usb_scan(&list, 0) < 0)
		return 0;
	for (size_t i = 0; i < list.n; i++)
		n += usb_rule_matches(rule, &list.d[i]);
	dp_usb_list_free(&list);
	return n;
}

static struct dp_pool_member *member_add(struct dp_pool_members *out, const struct pool_def *def)
{
	if (dp_array_grow(&out->m, out->n, 1, sizeof(*out->m)) < 0)
		return NULL;
	struct dp_pool_member *m = &out->m[out->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->pool, sizeof(m->pool), "%s", def->pool.name);
	m->group = DP_NO_GROUP;
	m->numa = DP_NO_NUMA;
	m->sriov_total = -1;
	return m;
}

static void member_claimed(struct dp_pool_member *m, const struct unit_claim *c)
{
	m->state = DP_MEMBER_CLAIMED;
	snprintf(m->owner, sizeof(m->owner), "%s", c->owner);
	m->pid = c->pid;
	m->stale = c->stale;
	m->since = c->claimed_at;
}

static int usb_member_add(const struct pool_defs *defs, const struct pool_def *def,
                          const struct unit_claims *claims, const struct dp_usb_device *d,
                          struct dp_pool_members *out)
{
	char unit[192], why[256] = "";
	struct dp_pool_member *m = member_add(out, def);
	if (!m)
		return dp_oom();
	usb_unit(d, unit, sizeof(unit));
	snprintf(m->address, sizeof(m->address), "%s", d->location);
	if (asprintf(&m->label, "%s%s%s", d->vendor, *d->vendor && *d->product ? " " : "",
	             d->product) < 0) {
		m->label = NULL;
		return dp_oom();
	}
	m->vendor = d->vendor_id;
	m->device = d->product_id;
	m->class_code = (uint32_t)d->cls << 16 | (uint32_t)d->subclass << 8 | d->protocol;
	const struct unit_claim *c = unit_claim_find(claims, "usb", unit);
	if (c && c->pool_id == def->id)
		member_claimed(m, c);
	else if (c || usb_refusal(defs, def, d, why, sizeof(why)))
		m->state = c ? DP_MEMBER_UNAVAILABLE : strstr(why, "matches it too") ? DP_MEMBER_CONFLICT
		                                                                   : DP_MEMBER_UNAVAILABLE;
	if (c && c->pool_id != def->id)
		snprintf(why, sizeof(why), "claimed by '%s' from pool '%s'", c->owner, c->pool);
	return *why && !(m->reason = strdup(why)) ? dp_oom() : 0;
}

/* Claimed devices that are not plugged in stay members: missing until they are back. */
static int usb_missing_add(const struct pool_def *def, const struct unit_claims *claims,
                           const struct dp_usb_list *list, struct dp_pool_members *out)
{
	for (size_t i = 0; i < claims->n; i++) {
		const struct unit_claim *c = &claims->c[i];
		if (c->pool_id != def->id || usb_find_unit(list, c->unit))
			continue;
		struct dp_pool_member *m = member_add(out, def);
		if (!m)
			return dp_oom();
		member_claimed(m, c);
		m->state = DP_MEMBER_MISSING;
		snprintf(m->address, sizeof(m->address), "%s", c->place);
		sscanf(c->unit, "%4hx:%4hx", &m->vendor, &m->device);
		if (!(m->reason = strdup(c->unit)))
			return dp_oom();
	}
	return 0;
}

int usb_members(struct pool_db *p, const struct pool_defs *defs, const struct pool_def *def,
                struct dp_pool_members *out)
{
	_cleanup_(unit_claims_freep) struct unit_claims claims = {0};
	struct dp_usb_list list = {0};
	int r = unit_claims_load(p, "usb", &claims);
	if (r == 0)
		r = dp_usb_scan(&list, 0);
	for (size_t i = 0; r == 0 && i < list.n; i++)
		if (usb_def_matches(def, &list.d[i]))
			r = usb_member_add(defs, def, &claims, &list.d[i], out);
	if (r == 0)
		r = usb_missing_add(def, &claims, &list, out);
	dp_usb_list_free(&list);
	return r;
}
