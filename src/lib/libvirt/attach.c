/* Pool devices for libvirt domains through libvirt's C API: claim (owner = the domain's
 * name), let the export unit render the elements, put them into the persistent
 * definition (and the running guest), and the reverse. All or nothing: a failure puts
 * the old definition back and gives back what this call claimed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "alloc-util.h"
#include "libvirt/libvirt-int.h"
#include "util/error.h"

/* How long a live detach may take before the guest is said not to let go. */
#define LV_UNPLUG_WAIT_MS 10000

static void connp(virConnectPtr *c)
{
	if (*c)
		virConnectClose(*c);
}

static void domp(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}

/* libvirt prints every error to stderr unless a handler takes it; devpass reports them. */
static void errors_keep_quiet(void *opaque, virErrorPtr e)
{
	(void)opaque;
	(void)e;
}

static const char *lv_message(void)
{
	const char *m = virGetLastErrorMessage();
	return m && *m ? m : "no reason given";
}

const char *dp_libvirt_uri(const char *uri, char *out, size_t size)
{
	const char *env = getenv("LIBVIRT_DEFAULT_URI");
	snprintf(out, size, "%s", uri && *uri ? uri : env && *env ? env : "qemu:///system");
	return out;
}

void dp_libvirt_result_free(struct dp_libvirt_result *r)
{
	dp_hostdev_set_free(&r->set);
	dp_claim_list_free(&r->claims);
	r->live = false;
}

static int connect_error(const char *uri)
{
	virErrorPtr e = virGetLastError();
	int err = e && e->code == VIR_ERR_SYSTEM_ERROR ? e->int1 : 0;
	if (err == ENOENT || err == ECONNREFUSED)
		return dp_error_set_remedy(-ECONNREFUSED, DP_REMEDY_START_SERVICE, "libvirtd",
		                           "libvirt at %s does not answer: the libvirtd service is not "
		                           "running (%s)", uri, lv_message());
	if (err == EACCES || err == EPERM)
		return dp_error_set(-EACCES, "libvirt at %s refuses this user: %s (root or the libvirt "
		                    "group may connect)", uri, lv_message());
	return dp_error_set(-EIO, "cannot connect to libvirt at %s: %s", uri, lv_message());
}

static int domain_open(const char *uri, const char *name, virConnectPtr *conn, virDomainPtr *dom)
{
	virSetErrorFunc(NULL, errors_keep_quiet);
	if (!name || !*name)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "domain", "no domain named");
	if (!(*conn = virConnectOpen(uri)))
		return connect_error(uri);
	if ((*dom = virDomainLookupByName(*conn, name)))
		return 0;
	virErrorPtr e = virGetLastError();
	if (e && e->code == VIR_ERR_NO_DOMAIN)
		return dp_error_set(-ENOENT, "libvirt at %s has no domain '%s'", uri, name);
	return dp_error_set(-EIO, "cannot look up domain '%s' at %s: %s", name, uri, lv_message());
}

static int inactive_xml(virDomainPtr dom, const char *name, char **xml)
{
	*xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	return *xml ? 0 : dp_error_set(-EIO, "cannot read the definition of domain '%s': %s", name,
	                               lv_message());
}

static int domain_define(virConnectPtr conn, const char *xml, const char *name)
{
	virDomainPtr d = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!d)
		return dp_error_set(-EIO, "libvirt refuses the new definition of domain '%s': %s",
		                    name, lv_message());
	virDomainFree(d);
	return 0;
}

/* ---- claims ------------------------------------------------------------------------------ */
/* Moves src's claims to the end of dst (src is left empty). */
static int claims_append(struct dp_claim_list *dst, struct dp_claim_list *src)
{
	if (dp_array_grow(&dst->c, dst->n, src->n + 1, sizeof(*dst->c)) < 0)
		return dp_oom();
	memcpy(dst->c + dst->n, src->c, src->n * sizeof(*dst->c));
	dst->n += src->n;
	for (size_t i = 0; i < src->warnings.n; i++)
		if (dp_strv_add(&dst->warnings, src->warnings.v[i]) < 0)
			return dp_oom();
	free(src->c);
	src->c = NULL;
	src->n = 0;
	dp_claim_list_free(src);
	return 0;
}

/* Gives back what this call claimed (not what the domain held before it). */
static void claims_undo(const struct dp_pci_list *list, const char *owner,
                        const struct dp_claim_list *claims, int timeout_ms)
{
	_cleanup_free_ char **addrs = calloc(claims->n + 1, sizeof(*addrs));
	size_t n = 0;
	for (size_t i = 0; addrs && i < claims->n; i++)
		if (!claims->c[i].held)
			addrs[n++] = (char *)claims->c[i].address;
	if (!addrs || n == 0)
		return;
	char why[1024];
	snprintf(why, sizeof(why), "%s", dp_error_message());   /* the failure being undone */
	struct dp_claim_list rel = {0};
	dp_pool_release(list, owner, addrs, n, timeout_ms, &rel);
	dp_claim_list_free(&rel);
	dp_error_set(-EIO, "%s", why);
}

/* The pool an explicitly named device belongs to. */
static int member_pool(const struct dp_pool_members *m, const char *device, char *pool,
                       char address[DP_ADDR_LEN])
{
	struct dp_pci_addr a;
	if (dp_pci_addr_parse(device, &a) < 0)
		return dp_error_set(-EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F or BB:SS.F)", device);
	dp_pci_addr_format(&a, address);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->m[i].address, address) == 0) {
			snprintf(pool, DP_POOL_NAME_MAX + 1, "%s", m->m[i].pool);
			return 0;
		}
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_DEFINE, address, "%s is in no pool: a "
	                           "libvirt domain takes its devices from pools, so that no two "
	                           "owners can hold one", address);
}

static int claim_one(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                     const char *pool, const char *address, unsigned count,
                     struct dp_claim_list *claims)
{
	struct dp_claim_request c = {.pool = pool, .owner = req->domain, .count = count,
	                             .numa = req->numa, .address = address,
	                             .timeout_ms = req->timeout_ms};
	struct dp_claim_list got = {0};
	int r = dp_pool_claim(list, &c, &got);
	if (r < 0) {
		dp_claim_list_free(&got);
		return r;
	}
	return claims_append(claims, &got);
}

/* A running domain takes single-function devices only: libvirt cannot hot-plug the
 * functions of one device together. */
static int hotplug_check(const struct dp_hostdev_set *s, const char *domain)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].guest.set && (s->h[i].guest.multifunction || s->h[i].guest.function))
			return dp_error_set(-EOPNOTSUPP, "cannot hot-plug %s into the running domain '%s': "
			                    "it shares its IOMMU group with other functions of one device, "
			                    "which go to the guest together as one multi-function device, "
			                    "and libvirt adds those only to a stopped domain; shut the "
			                    "domain off", s->h[i].address, domain);
	return 0;
}

/* 0 when the member's group goes to a running guest one function at a time. */
static int pluggable(const struct dp_pci_list *list, const char *address, const char *domain)
{
	char *one[] = {(char *)address};
	_cleanup_(dp_hostdev_set_free) struct dp_hostdev_set s = {0};
	int r = dp_hostdev_set_from_devices(list, one, 1, &s);
	if (r == 0)
		r = dp_hostdev_set_place(&s, 1);
	return r < 0 ? r : hotplug_check(&s, domain);
}

/* For a running domain the members are chosen here, before any claim: free ones whose
 * group can be hot-plugged, on the wanted NUMA node first. A multi-function group is
 * never bound just to be given back. */
static int claims_make_live(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                            struct dp_claim_list *claims)
{
	struct dp_pool_members m = {0};
	unsigned want = req->count ? req->count : 1, got = 0;
	char refused[1024] = "";
	int r = dp_pool_members_read(list, req->pool, &m);
	for (int pass = 0; r == 0 && pass < 2 && got < want; pass++)
		for (size_t i = 0; r == 0 && i < m.n && got < want; i++) {
			const struct dp_pool_member *x = &m.m[i];
			bool near = req->numa == DP_NO_NUMA || x->numa == req->numa;
			if (x->state != DP_MEMBER_FREE || !x->dev || near != (pass == 0))
				continue;
			int p = pluggable(list, x->address, req->domain);
			if (p == -EOPNOTSUPP && !refused[0])
				snprintf(refused, sizeof(refused), "%s", dp_error_message());
			else if (p < 0 && p != -EOPNOTSUPP)
				r = p;
			else if (p == 0 && (r = claim_one(list, req, req->pool, x->address, 1, claims)) == 0)
				got++;
		}
	dp_pool_members_free(&m);
	if (r == 0 && got < want && refused[0])
		return dp_error_set(-EOPNOTSUPP, "%s", refused);
	if (r == 0 && got < want)   /* the pool's own account of the shortage */
		r = claim_one(list, req, req->pool, NULL, want - got, claims);
	return r;
}

static int claims_make(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                       bool running, struct dp_claim_list *claims)
{
	if (req->pool && running)
		return claims_make_live(list, req, claims);
	if (req->pool)
		return claim_one(list, req, req->pool, NULL, req->count ? req->count : 1, claims);
	struct dp_pool_members m = {0};
	int r = dp_pool_members_read(list, NULL, &m);
	for (size_t i = 0; r == 0 && i < req->ndevices; i++) {
		char pool[DP_POOL_NAME_MAX + 1], address[DP_ADDR_LEN];
		r = member_pool(&m, req->devices[i], pool, address);
		if (r == 0)
			r = claim_one(list, req, pool, address, 1, claims);
	}
	dp_pool_members_free(&m);
	return r;
}

/* ---- which elements are new ------------------------------------------------------------ */
static bool alias_in_set(const struct dp_hostdev_set *s, const char *alias)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->h[i].alias, alias) == 0)
			return true;
	return false;
}

static bool alias_in_domain(const struct lv_domain *d, const char *alias)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->s[i].alias, alias) == 0)
			return true;
	return false;
}

static bool claimed_now(const struct dp_hostdev *h, const struct dp_claim_list *claims)
{
	for (size_t i = 0; i < claims->n; i++)
		if (dp_strv_contains(&claims->c[i].functions, h->address) ||
		    strcmp(claims->c[i].address, h->kind == DP_HOSTDEV_MDEV ? h->uuid : h->address) == 0)
			return true;
	return false;
}

/* What the domain's owner holds now and its definition lacks: what this call claimed,
 * and what it held already only when this call named it again. */
static int elements_new(const struct dp_hostdev_set *before, const struct dp_hostdev_set *after,
                        const struct lv_domain *dom, const struct dp_claim_list *claims,
                        struct dp_hostdev_set *out)
{
	for (size_t i = 0; i < after->n; i++) {
		const struct dp_hostdev *h = &after->h[i];
		if (alias_in_domain(dom, h->alias) ||
		    (alias_in_set(before, h->alias) && !claimed_now(h, claims)))
			continue;
		if (dp_array_grow(&out->h, out->n, 1, sizeof(*out->h)) < 0)
			return dp_oom();
		out->h[out->n++] = *h;
	}
	return 0;
}

static int owner_set(const struct dp_pci_list *list, const char *owner, struct dp_hostdev_set *s)
{
	int r = dp_hostdev_set_from_owner(list, owner, s);
	if (r == -ENOENT) {   /* holds nothing yet */
		dp_hostdev_set_free(s);
		return 0;
	}
	return r;
}

/* Before anything is claimed: the named devices' elements as they would be placed. */
static int hotplug_precheck(const struct dp_pci_list *list, const struct dp_libvirt_request *req)
{
	_cleanup_(dp_hostdev_set_free) struct dp_hostdev_set s = {0};
	int r = dp_hostdev_set_from_devices(list, req->devices, req->ndevices, &s);
	if (r == 0)
		r = dp_hostdev_set_place(&s, 1);
	return r < 0 ? r : hotplug_check(&s, req->domain);
}

/* ---- attach ---------------------------------------------------------------------------- */
struct attach_job {
	const struct dp_pci_list *list;
	const struct dp_libvirt_request *req;
	virConnectPtr conn;
	virDomainPtr dom;
	char *old_xml;
	struct lv_domain parsed;
	bool running;
	size_t live_done;
};

static void live_undo(struct attach_job *j, const struct dp_hostdev_set *s)
{
	for (size_t i = 0; i < j->live_done; i++)
		virDomainDetachDeviceAlias(j->dom, s->h[i].alias, VIR_DOMAIN_AFFECT_LIVE);
}

static int live_attach(struct attach_job *j, const struct dp_hostdev_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_free_ char *xml = NULL;
		int r = dp_hostdev_xml(&s->h[i], DP_HOSTDEV_XML_NO_ADDRESS, &xml);
		if (r < 0)
			return r;
		if (virDomainAttachDeviceFlags(j->dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
			return dp_error_set(-EIO, "libvirt cannot hot-plug %s into domain '%s': %s",
			                    s->h[i].alias, j->req->domain, lv_message());
		j->live_done = i + 1;
	}
	return 0;
}

/* From the claims to the definition (and the running guest). */
static int attach_elements(struct attach_job *j, const struct dp_hostdev_set *before,
                           struct dp_libvirt_result *out)
{
	_cleanup_(dp_hostdev_set_free) struct dp_hostdev_set after = {0};
	_cleanup_free_ char *new_xml = NULL;
	int bus;
	int r = owner_set(j->list, j->req->domain, &after);
	if (r == 0)
		r = elements_new(before, &after, &j->parsed, &out->claims, &out->set);
	if (r == 0 && out->set.n == 0)
		return dp_error_set(-ENOENT, "domain '%s' has every device its claims hold already",
		                    j->req->domain);
	if (r == 0)
		r = lv_xml_first_free_bus(j->old_xml, &bus);
	if (r == 0)
		r = dp_hostdev_set_place(&out->set, bus);
	if (r == 0 && j->running)
		r = hotplug_check(&out->set, j->req->domain);
	if (r == 0)
		r = lv_xml_insert(j->old_xml, &out->set, j->req->domain, &new_xml);
	if (r == 0)
		r = domain_define(j->conn, new_xml, j->req->domain);
	if (r == 0 && j->running && (r = live_attach(j, &out->set)) < 0) {
		live_undo(j, &out->set);
		char why[1024];
		snprintf(why, sizeof(why), "%s", dp_error_message());
		domain_define(j->conn, j->old_xml, j->req->domain);   /* the old definition back */
		dp_error_set(r, "%s", why);
	}
	return r;
}

static void attach_job_free(struct attach_job *j)
{
	free(j->old_xml);
	lv_domain_free(&j->parsed);
	if (j->dom)
		virDomainFree(j->dom);
	if (j->conn)
		virConnectClose(j->conn);
}

static int attach_prepare(struct attach_job *j, const struct dp_libvirt_request *req)
{
	char uri[1024];
	dp_libvirt_uri(req->uri, uri, sizeof(uri));
	if (!req->pool && req->ndevices == 0)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "pool", "name a pool or the "
		                           "pool members to attach");
	int r = domain_open(uri, req->domain, &j->conn, &j->dom);
	if (r == 0)
		r = inactive_xml(j->dom, req->domain, &j->old_xml);
	if (r == 0)
		r = lv_domain_parse(j->old_xml, &j->parsed);
	int active = r == 0 ? virDomainIsActive(j->dom) : 0;
	if (active < 0)
		r = dp_error_set(-EIO, "cannot tell whether domain '%s' runs: %s", req->domain, lv_message());
	j->running = active > 0;
	if (r == 0 && j->running && req->ndevices)
		r = hotplug_precheck(j->list, req);
	return r;
}

int dp_libvirt_attach(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                      struct dp_libvirt_result *out)
{
	_cleanup_(attach_job_free) struct attach_job j = {.list = list, .req = req};
	_cleanup_(dp_hostdev_set_free) struct dp_hostdev_set before = {0};
	memset(out, 0, sizeof(*out));
	int r = attach_prepare(&j, req);
	if (r == 0)
		r = owner_set(list, req->domain, &before);
	if (r == 0 && (r = claims_make(list, req, j.running, &out->claims)) < 0)
		claims_undo(list, req->domain, &out->claims, req->timeout_ms);
	if (r == 0 && (r = attach_elements(&j, &before, out)) < 0)
		claims_undo(list, req->domain, &out->claims, req->timeout_ms);
	out->live = j.running;
	if (r < 0)
		dp_libvirt_result_free(out);
	return r;
}

/* ---- detach ---------------------------------------------------------------------------- */
static bool live_has_alias(virDomainPtr dom, const char *alias)
{
	_cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
	struct lv_domain d;
	if (!xml || lv_domain_parse(xml, &d) < 0)
		return false;
	bool found = alias_in_domain(&d, alias);
	lv_domain_free(&d);
	return found;
}

/* libvirt's live detach only asks the guest; the claim may go once the device is gone. */
static int unplug_wait(virDomainPtr dom, const char *alias, const char *domain)
{
	struct timespec pause = {0, 100 * 1000 * 1000};
	for (int waited = 0; waited < LV_UNPLUG_WAIT_MS; waited += 100) {
		if (!live_has_alias(dom, alias))
			return 0;
		nanosleep(&pause, NULL);
	}
	return dp_error_set(-ETIMEDOUT, "the guest of domain '%s' has not let go of %s after %d s "
	                    "(its OS must accept the unplug); its claim is kept", domain, alias,
	                    LV_UNPLUG_WAIT_MS / 1000);
}

static int live_detach(virDomainPtr dom, const struct lv_domain *removed, const char *domain)
{
	for (size_t i = 0; i < removed->n; i++) {
		const char *alias = removed->s[i].alias;
		if (!live_has_alias(dom, alias))
			continue;   /* added to the definition only: the guest never had it */
		if (virDomainDetachDeviceAlias(dom, alias, VIR_DOMAIN_AFFECT_LIVE) < 0)
			return dp_error_set(-EIO, "libvirt cannot unplug %s from domain '%s': %s", alias,
			                    domain, lv_message());
		int r = unplug_wait(dom, alias, domain);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool claim_removed(const struct dp_claim *c, const struct lv_domain *removed)
{
	for (size_t i = 0; i < removed->n; i++)
		if (lv_source_matches(&removed->s[i], c->address) ||
		    (removed->s[i].address[0] && dp_strv_contains(&c->functions, removed->s[i].address)))
			return true;
	return false;
}

/* The claims behind the removed elements; all of the domain's when none was named. */
static int detach_release(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                          const struct lv_domain *removed, struct dp_claim_list *out)
{
	struct dp_claim_list held = {0};
	int r = req->ndevices ? dp_claims_read(list, req->domain, &held) : 0;
	_cleanup_free_ char **addrs = calloc(held.n + 1, sizeof(*addrs));
	size_t n = 0;
	for (size_t i = 0; r == 0 && addrs && i < held.n; i++)
		if (claim_removed(&held.c[i], removed))
			addrs[n++] = held.c[i].address;
	if (r == 0 && !addrs)
		r = dp_oom();
	if (r == 0 && (n || !req->ndevices))
		r = dp_pool_release(list, req->domain, addrs, n, req->timeout_ms, out);
	if (r == -ENOENT)   /* nothing was held: the definition was all there was to change */
		r = 0;
	dp_claim_list_free(&held);
	return r;
}

static int removed_to_set(const struct lv_domain *removed, struct dp_hostdev_set *set)
{
	set->h = calloc(removed->n + 1, sizeof(*set->h));
	if (!set->h)
		return dp_oom();
	for (size_t i = 0; i < removed->n; i++) {
		struct dp_hostdev *h = &set->h[set->n++];
		const struct lv_source *s = &removed->s[i];
		h->kind = s->kind;
		h->group = DP_NO_GROUP;
		h->vlan = -1;
		h->usb_vendor = s->vendor;
		h->usb_product = s->product;
		snprintf(h->address, sizeof(h->address), "%s", s->address);
		snprintf(h->uuid, sizeof(h->uuid), "%s", s->uuid);
		snprintf(h->alias, sizeof(h->alias), "%s", s->alias);
		snprintf(h->pool, sizeof(h->pool), "%s", s->pool);
	}
	return 0;
}

static int detach_named_check(const struct dp_libvirt_request *req, const struct lv_domain *removed)
{
	for (size_t i = 0; i < req->ndevices; i++) {
		bool found = false;
		for (size_t k = 0; k < removed->n && !found; k++)
			found = lv_source_matches(&removed->s[k], req->devices[i]);
		if (!found)
			return dp_error_set(-ENOENT, "domain '%s' has no device %s that devpass attached",
			                    req->domain, req->devices[i]);
	}
	return 0;
}

int dp_libvirt_detach(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                      struct dp_libvirt_result *out)
{
	_cleanup_(connp) virConnectPtr conn = NULL;
	_cleanup_(domp) virDomainPtr dom = NULL;
	_cleanup_free_ char *old_xml = NULL, *new_xml = NULL;
	struct lv_domain removed = {0};
	char uri[1024];
	memset(out, 0, sizeof(*out));
	int r = domain_open(dp_libvirt_uri(req->uri, uri, sizeof(uri)), req->domain, &conn, &dom);
	if (r == 0)
		r = inactive_xml(dom, req->domain, &old_xml);
	if (r == 0)
		r = lv_xml_remove(old_xml, req->devices, req->ndevices, &new_xml, &removed);
	if (r == 0)
		r = detach_named_check(req, &removed);
	out->live = r == 0 && virDomainIsActive(dom) > 0;
	if (r == 0 && out->live)
		r = live_detach(dom, &removed, req->domain);
	if (r == 0 && removed.n)
		r = domain_define(conn, new_xml, req->domain);
	if (r == 0)
		r = removed_to_set(&removed, &out->set);
	if (r == 0)
		r = detach_release(list, req, &removed, &out->claims);
	lv_domain_free(&removed);
	if (r < 0)
		dp_libvirt_result_free(out);
	return r;
}
