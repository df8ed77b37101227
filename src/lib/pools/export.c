/* Exports of the pools for the platforms that allocate devices themselves: OpenStack Nova
 * (device_spec + alias), KubeVirt (permittedHostDevices) and Proxmox VE (resource
 * mappings). They are generated from the members devpass sees now, one exact address per
 * device: a platform then offers exactly what the pool holds, never a device a glob
 * happens to catch later. Members that are changed, missing, in conflict or unavailable
 * are left out, each with a warning. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "pools/units.h"

struct export_ctx {
	const struct dp_export_options *o;
	const struct dp_pci_list *list;
	struct dp_pool_list pools;
	struct dp_pool_members members;
	struct dp_strv *warnings;
	FILE *text;
	struct json_object *json;
	bool out_of_memory;   /* something the export holds could not be kept: it fails */
};

/* Only free members: the platforms know nothing of devpass's claims (they would hand a
 * claimed device to a second tenant) nor of its quarantine (an unwiped device to the next). */
static bool member_exportable(const struct dp_pool_member *m)
{
	return m->state == DP_MEMBER_FREE;
}

/* An mdev pool's members are (parent, type) pairs and the devices made from them: one
 * with no room left is not left out of anything, the platform makes its own. */
static bool member_of_mdev_pool(const struct export_ctx *x, const struct dp_pool_member *m)
{
	for (size_t i = 0; i < x->pools.n; i++)
		if (strcmp(x->pools.p[i].name, m->pool) == 0)
			return x->pools.p[i].type == DP_POOL_MDEV;
	return false;
}

static void skipped_warn(struct export_ctx *x)
{
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *m = &x->members.m[i];
		if (member_exportable(m) || member_of_mdev_pool(x, m))
			continue;
		if (m->state == DP_MEMBER_CLAIMED)
			dp_strv_addf(x->warnings, "WARNING: %s of pool '%s' is left out: claimed by '%s'; the "
			             "platform does not see devpass's claims and would hand it out again",
			             m->address, m->pool, m->owner);
		else if (m->state == DP_MEMBER_QUARANTINED)
			dp_strv_addf(x->warnings, "WARNING: %s of pool '%s' is left out: quarantined until it "
			             "is cleared; the platform would hand it to the next tenant unwiped",
			             m->address, m->pool);
		else
			dp_strv_addf(x->warnings, "WARNING: %s of pool '%s' is left out: %s%s%s", m->address,
			             m->pool, dp_member_state_name(m->state), m->reason ? ": " : "",
			             m->reason ? m->reason : "");
	}
}

/* The platforms hand out each exported device on its own; vfio gives a VM whole IOMMU
 * groups, so two exported devices of one group cannot go to two VMs. */
static void shared_groups_warn(struct export_ctx *x)
{
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *a = &x->members.m[i];
		if (!member_exportable(a) || a->group < 0)
			continue;
		for (size_t k = i + 1; k < x->members.n; k++) {
			const struct dp_pool_member *b = &x->members.m[k];
			if (member_exportable(b) && b->group == a->group) {
				dp_strv_addf(x->warnings, "WARNING: %s (pool '%s') and %s (pool '%s') share IOMMU "
				             "group %d: the platform may give them to two VMs, and the second "
				             "cannot start; keep one of them out of the pools", a->address,
				             a->pool, b->address, b->pool, a->group);
				break;
			}
		}
	}
}

static bool pool_wanted(const struct export_ctx *x, const struct dp_pool *pool)
{
	return !x->o->pool || strcmp(x->o->pool, pool->name) == 0;
}

static size_t pool_member_count(const struct export_ctx *x, const char *pool)
{
	size_t n = 0;
	for (size_t i = 0; i < x->members.n; i++)
		n += strcmp(x->members.m[i].pool, pool) == 0 && member_exportable(&x->members.m[i]);
	return n;
}

static const char *json_plain(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- OpenStack Nova --------------------------------------------------------------------- */

/* What Nova would call the member: it tells PF from plain PCI by the VF count. */
static const char *nova_device_type(const struct dp_pool *pool, const struct dp_pool_member *m)
{
	if (pool->type == DP_POOL_SRIOV_VF)
		return "type-VF";
	return m->sriov_total > 0 ? "type-PF" : "type-PCI";
}

/* Drivers under which vfio still finds an IOMMU group viable. */
static bool driver_leaves_group_viable(const char *driver)
{
	return !*driver || strcmp(driver, "vfio-pci") == 0 || strcmp(driver, "pci-stub") == 0;
}

/* Nova (libvirt managed='yes') detaches only the function it assigns: a sibling endpoint
 * of the group left on a host driver makes QEMU refuse the whole group. The first such
 * sibling, or NULL. */
static const struct dp_pci_device *nova_group_blocker(const struct export_ctx *x,
                                                      const struct dp_pool_member *m)
{
	if (m->group < 0)
		return NULL;
	for (size_t i = 0; i < x->list->n; i++) {
		const struct dp_pci_device *d = &x->list->dev[i];
		if (d->iommu_group == m->group && strcmp(d->address, m->address) != 0 &&
		    !dp_pci_device_is_bridge(d) && !driver_leaves_group_viable(d->driver))
			return d;
	}
	return NULL;
}

/* One pool as Nova gets it: the members it can hand out, and its vendor:product:type keys. */
struct nova_plan {
	const struct dp_pool *pool;
	const char *type;            /* the one device_type of the exported members */
	char *physnet;               /* sriov-vf pools: the physnet tag, else NULL */
	struct dp_strv members;      /* addresses */
	struct dp_strv keys;         /* "vvvv:pppp" of the members, in order of appearance */
	struct dp_strv groups;       /* IOMMU groups of the members, for the comment */
	bool no_alias;               /* selected through Neutron ports by physnet only */
	size_t spec_first, spec_n, alias_first, alias_n;   /* its lines in the arrays */
};

static void nova_plan_free(struct nova_plan *p)
{
	dp_strv_free(&p->members);
	dp_strv_free(&p->keys);
	dp_strv_free(&p->groups);
	free(p->physnet);
}

static bool nova_member_usable(struct export_ctx *x, const struct nova_plan *plan,
                               const struct dp_pool_member *m)
{
	const char *type = nova_device_type(plan->pool, m);
	if (plan->type && strcmp(plan->type, type) != 0) {
		dp_strv_addf(x->warnings, "WARNING: pool '%s' mixes %s and %s devices; one Nova alias "
		             "takes one device_type: %s is left out", plan->pool->name, plan->type, type,
		             m->address);
		return false;
	}
	const struct dp_pci_device *sib = nova_group_blocker(x, m);
	if (sib) {
		dp_strv_addf(x->warnings, "WARNING: %s of pool '%s' is left out: its IOMMU group %d also "
		             "holds %s (on %s), which Nova does not detach, so QEMU would refuse the group; "
		             "keep %s on vfio-pci at every boot (a persisted binding) to export it",
		             m->address, plan->pool->name, m->group, sib->address, sib->driver,
		             sib->address);
		return false;
	}
	return true;
}

static int nova_plan_build(struct export_ctx *x, const struct dp_pool *pool, struct nova_plan *plan)
{
	_cleanup_(dp_strv_freep) struct dp_strv tags = {0};
	*plan = (struct nova_plan){.pool = pool};
	int r = dp_pool_tags_read(pool->name, &tags);
	if (r == -ENOMEM)
		return r;
	/* VFs for Neutron's SR-IOV ports name the physical network their uplink is on */
	const char *physnet = pool->type == DP_POOL_SRIOV_VF ? dp_pool_tag_value(&tags, "physnet") : NULL;
	if (physnet && !(plan->physnet = strdup(physnet)))
		return dp_oom();
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *m = &x->members.m[i];
		char key[16], group[16];
		if (strcmp(m->pool, pool->name) != 0 || !member_exportable(m) ||
		    !nova_member_usable(x, plan, m))
			continue;
		plan->type = nova_device_type(pool, m);
		snprintf(key, sizeof(key), "%04x:%04x", m->vendor, m->device);
		snprintf(group, sizeof(group), "%d", m->group);
		if (dp_strv_add(&plan->members, m->address) < 0 ||
		    (!dp_strv_contains(&plan->keys, key) && dp_strv_add(&plan->keys, key) < 0) ||
		    (m->group >= 0 && !dp_strv_contains(&plan->groups, group) &&
		     dp_strv_add(&plan->groups, group) < 0))
			return dp_oom();
	}
	return 0;
}

static const char *nova_shared_key(const struct nova_plan *a, const struct nova_plan *b)
{
	if (!a->type || !b->type || strcmp(a->type, b->type) != 0)
		return NULL;
	for (size_t i = 0; i < a->keys.n; i++)
		if (dp_strv_contains(&b->keys, a->keys.v[i]))
			return a->keys.v[i];
	return NULL;
}

/* A Nova alias says only vendor, product and device_type (26.x's schema has no resource
 * class or trait): two pools with one such key would hand out each other's devices. VF
 * pools on distinct physical networks are still told apart by Neutron's ports, so they
 * go out without an alias; any other pair is refused. */
static int nova_plans_check(struct nova_plan *plans, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++) {
			const char *key = nova_shared_key(&plans[i], &plans[k]);
			if (!key)
				continue;
			if (plans[i].physnet && plans[k].physnet &&
			    strcmp(plans[i].physnet, plans[k].physnet) != 0) {
				plans[i].no_alias = plans[k].no_alias = true;
				continue;
			}
			return dp_error_set_remedy(-EEXIST, DP_REMEDY_PARAMETER, "pool", "pools '%s' and "
			                           "'%s' both hold %s %s devices: a Nova alias selects by vendor, "
			                           "product and device type only, so each pool's alias would also "
			                           "hand out the other pool's devices; export one of the two pools "
			                           "per Nova cloud (or, for VF pools, tag each with its own "
			                           "physnet)", plans[i].pool->name, plans[k].pool->name, key,
			                           plans[i].type);
		}
	return 0;
}

static const struct dp_pool_member *member_find(const struct export_ctx *x, const char *pool,
                                                const char *address)
{
	for (size_t i = 0; i < x->members.n; i++)
		if (strcmp(x->members.m[i].pool, pool) == 0 && strcmp(x->members.m[i].address, address) == 0)
			return &x->members.m[i];
	return NULL;
}

/* A PF's plain address is "the PF and all its VFs" to Nova (it reads sriov_totalvfs):
 * the regex form with a bracketed function is no single address, so it names the PF only. */
static struct json_object *nova_pf_address(const struct dp_pool_member *m)
{
	struct dp_pci_addr a;
	char domain[8], bus[4], slot[4], function[4];
	if (dp_pci_addr_parse(m->address, &a) < 0)
		return json_object_new_string(m->address);
	snprintf(domain, sizeof(domain), "%04x", a.domain);
	snprintf(bus, sizeof(bus), "%02x", a.bus);
	snprintf(slot, sizeof(slot), "%02x", a.slot);
	snprintf(function, sizeof(function), "[%x]", a.func);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(domain));
	json_object_object_add(o, "bus", json_object_new_string(bus));
	json_object_object_add(o, "slot", json_object_new_string(slot));
	json_object_object_add(o, "function", json_object_new_string(function));
	return o;
}

static struct json_object *nova_spec(const struct nova_plan *plan, const struct dp_pool_member *m)
{
	char vendor[8], product[8];
	snprintf(vendor, sizeof(vendor), "%04x", m->vendor);
	snprintf(product, sizeof(product), "%04x", m->device);
	struct json_object *spec = json_object_new_object();
	json_object_object_add(spec, "vendor_id", json_object_new_string(vendor));
	json_object_object_add(spec, "product_id", json_object_new_string(product));
	json_object_object_add(spec, "address", strcmp(plan->type, "type-PF") == 0
	                       ? nova_pf_address(m) : json_object_new_string(m->address));
	if (plan->physnet)
		json_object_object_add(spec, "physical_network", json_object_new_string(plan->physnet));
	return spec;
}

/* aliases of one name are OR-ed by Nova: one per vendor:product of the pool */
static struct json_object *nova_alias(const struct export_ctx *x, const struct nova_plan *plan,
                                      const char *key)
{
	char vendor[8], product[8];
	snprintf(vendor, sizeof(vendor), "%.4s", key);
	snprintf(product, sizeof(product), "%.4s", key + 5);
	struct json_object *alias = json_object_new_object();
	json_object_object_add(alias, "name", json_object_new_string(plan->pool->name));
	json_object_object_add(alias, "vendor_id", json_object_new_string(vendor));
	json_object_object_add(alias, "product_id", json_object_new_string(product));
	json_object_object_add(alias, "device_type", json_object_new_string(plan->type));
	json_object_object_add(alias, "numa_policy",
	                       json_object_new_string(x->o->numa_policy ? x->o->numa_policy : "legacy"));
	return alias;
}

static void nova_pool(struct export_ctx *x, struct nova_plan *plan, struct json_object *specs,
                      struct json_object *aliases, struct dp_strv *requests)
{
	plan->spec_first = json_object_array_length(specs);
	plan->alias_first = json_object_array_length(aliases);
	for (size_t i = 0; i < plan->members.n; i++)
		json_object_array_add(specs, nova_spec(plan, member_find(x, plan->pool->name,
		                                                           plan->members.v[i])));
	for (size_t i = 0; i < plan->keys.n && !plan->no_alias; i++)
		json_object_array_add(aliases, nova_alias(x, plan, plan->keys.v[i]));
	plan->spec_n = plan->members.n;
	plan->alias_n = plan->no_alias ? 0 : plan->keys.n;
	if (plan->alias_n)
		x->out_of_memory |= dp_strv_addf(requests, "%s:1", plan->pool->name) < 0;
}

/* The comment before a pool's lines: which pool, how many devices, which IOMMU groups. */
static void nova_pool_comment(struct export_ctx *x, const struct nova_plan *plan)
{
	enum { GROUPS_SHOWN = 8 };
	fprintf(x->text, "\n# pool '%s' (%s): %zu device%s", plan->pool->name,
	        dp_pool_type_name(plan->pool->type), plan->members.n, plan->members.n == 1 ? "" : "s");
	for (size_t i = 0; i < plan->groups.n && i < GROUPS_SHOWN; i++)
		fprintf(x->text, "%s%s", i ? ", " : plan->groups.n == 1 ? ", IOMMU group " : ", IOMMU groups ",
		        plan->groups.v[i]);
	fprintf(x->text, "%s\n", plan->groups.n > GROUPS_SHOWN ? ", ..." : "");
	if (plan->no_alias)
		fprintf(x->text, "# no alias: another pool holds devices of the same vendor, product and "
		        "type, which a\n# Nova alias cannot tell apart; Neutron SR-IOV ports on physical "
		        "network '%s'\n# select these\n", plan->physnet);
}

static void nova_text(struct export_ctx *x, const struct nova_plan *plans, size_t n,
                      struct json_object *specs, struct json_object *aliases, const char *request)
{
	size_t ns = json_object_array_length(specs), na = json_object_array_length(aliases);
	fprintf(x->text, "# devpass export nova: %zu device_spec, %zu alias %s.\n"
	        "# nova.conf of this compute node; the alias lines go on nova-api too.\n"
	        "# Only free pool members are here: Nova knows nothing of devpass's claims or\n"
	        "# quarantine, so claimed and quarantined members are left out (each with a warning).\n"
	        "[pci]\n", ns, na, na == 1 ? "entry" : "entries");
	for (size_t p = 0; p < n; p++) {
		if (plans[p].spec_n == 0)
			continue;
		nova_pool_comment(x, &plans[p]);
		for (size_t i = 0; i < plans[p].spec_n; i++)
			fprintf(x->text, "device_spec = %s\n",
			        json_plain(json_object_array_get_idx(specs, plans[p].spec_first + i)));
		for (size_t i = 0; i < plans[p].alias_n; i++)
			fprintf(x->text, "alias = %s\n",
			        json_plain(json_object_array_get_idx(aliases, plans[p].alias_first + i)));
	}
	if (*request)
		fprintf(x->text, "\n# A flavor asking for one device of each pool (edit the counts):\n"
		        "#   openstack flavor set FLAVOR --property \"pci_passthrough:alias\"=\"%s\"\n",
		        request);
}

/* ---- Nova: mdev pools ------------------------------------------------------------------ */

static bool json_array_has(struct json_object *a, const char *s)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s) == 0)
			return true;
	return false;
}

static bool mdev_rules_match(const struct dp_pool *pool, const struct dp_mdev_type *t)
{
	struct dp_rule_mdev_subject s = {.parent = t->parent, .type = t->type,
	                                 .name = t->name ? t->name : ""};
	bool hit = false;
	for (size_t r = 0; r < pool->rules.n && !hit; r++) {
		struct dp_rule rule;
		if (dp_rule_parse(pool->rules.v[r], &rule, NULL) < 0)
			continue;
		hit = dp_rule_match_mdev(&rule, &s);
		dp_rule_free(&rule);
	}
	return hit;
}

/* One matched type: into enabled_mdev_types, its PCI parent into [mdev_TYPE]
 * device_addresses (a virtual parent has no address Nova could name). */
static void nova_mdev_type(const struct dp_mdev_type *t, struct json_object *enabled,
                           struct json_object *sections)
{
	char key[128];
	struct dp_pci_addr addr;
	struct json_object *section, *addrs;
	if (!json_array_has(enabled, t->type))
		json_object_array_add(enabled, json_object_new_string(t->type));
	snprintf(key, sizeof(key), "mdev_%s", t->type);
	if (!json_object_object_get_ex(sections, key, &section)) {
		section = json_object_new_object();
		json_object_object_add(section, "device_addresses", json_object_new_array());
		json_object_object_add(sections, key, section);
	}
	json_object_object_get_ex(section, "device_addresses", &addrs);
	if (dp_pci_addr_parse(t->parent, &addr) == 0 && !json_array_has(addrs, t->parent))
		json_object_array_add(addrs, json_object_new_string(t->parent));
}

static void nova_mdev_pool(struct export_ctx *x, const struct dp_pool *pool,
                           const struct dp_mdev_type_list *types, struct json_object *enabled,
                           struct json_object *sections)
{
	size_t n = 0;
	for (size_t i = 0; i < types->n; i++)
		if (mdev_rules_match(pool, &types->t[i]) && ++n)
			nova_mdev_type(&types->t[i], enabled, sections);
	if (n == 0)
		dp_strv_addf(x->warnings, "WARNING: pool '%s' (mdev) is left out: no mdev type of this "
		             "host matches its rules", pool->name);
}

static void nova_mdev_text(struct export_ctx *x, struct json_object *enabled,
                           struct json_object *sections)
{
	if (json_object_array_length(enabled) == 0)
		return;
	fprintf(x->text, "\n[devices]\nenabled_mdev_types = ");
	for (size_t i = 0; i < json_object_array_length(enabled); i++)
		fprintf(x->text, "%s%s", i ? "," : "",
		        json_object_get_string(json_object_array_get_idx(enabled, i)));
	fprintf(x->text, "\n");
	json_object_object_foreach(sections, key, section) {
		struct json_object *addrs;
		json_object_object_get_ex(section, "device_addresses", &addrs);
		if (json_object_array_length(addrs) == 0)
			continue;
		fprintf(x->text, "\n[%s]\ndevice_addresses = ", key);
		for (size_t i = 0; i < json_object_array_length(addrs); i++)
			fprintf(x->text, "%s%s", i ? "," : "",
			        json_object_get_string(json_object_array_get_idx(addrs, i)));
		fprintf(x->text, "\n");
	}
}

static int numa_policy_check(const char *policy)
{
	static const char *const policies[] = {"legacy", "preferred", "required", "socket"};
	for (size_t i = 0; policy && i < 4; i++)
		if (strcmp(policy, policies[i]) == 0)
			return 0;
	if (!policy)
		return 0;
	return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "numa_policy", "unknown NUMA "
	                           "policy '%s': use legacy, preferred, required or socket", policy);
}

struct nova_out {
	struct json_object *specs, *aliases, *enabled, *sections;
	struct nova_plan *plans;
	size_t nplans;
};

static void nova_out_free(struct nova_out *o)
{
	json_object_put(o->specs);
	json_object_put(o->aliases);
	json_object_put(o->enabled);
	json_object_put(o->sections);
	for (size_t i = 0; i < o->nplans; i++)
		nova_plan_free(&o->plans[i]);
	free(o->plans);
}

/* Every wanted PCI or VF pool planned first: a clash between two of them refuses the
 * whole export before anything is written. USB and mdev pools go their own ways. */
static int nova_plans_make(struct export_ctx *x, struct nova_out *o)
{
	struct dp_mdev_type_list types = {0};
	if (dp_mdev_types_read(NULL, &types) < 0)
		memset(&types, 0, sizeof(types));   /* no parents: mdev pools match nothing */
	int r = 0;
	if (!(o->plans = calloc(x->pools.n ? x->pools.n : 1, sizeof(*o->plans))))
		r = dp_oom();
	for (size_t p = 0; r == 0 && p < x->pools.n; p++) {
		const struct dp_pool *pool = &x->pools.p[p];
		if (!pool_wanted(x, pool))
			continue;
		if (pool->type == DP_POOL_USB)
			dp_strv_addf(x->warnings, "WARNING: pool '%s' (usb) is left out: Nova's [pci] section "
			             "takes PCI devices", pool->name);
		else if (pool->type == DP_POOL_MDEV)
			nova_mdev_pool(x, pool, &types, o->enabled, o->sections);
		else
			r = nova_plan_build(x, pool, &o->plans[o->nplans++]);
	}
	dp_mdev_type_list_free(&types);
	return r < 0 ? r : nova_plans_check(o->plans, o->nplans);
}

static void nova_json(struct export_ctx *x, struct nova_out *o, const char *request)
{
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "pci_passthrough:alias", json_object_new_string(request));
	x->json = json_object_new_object();
	json_object_object_add(x->json, "device_spec", json_object_get(o->specs));
	json_object_object_add(x->json, "alias", json_object_get(o->aliases));
	json_object_object_add(x->json, "flavor_extra_specs", extra);
	if (json_object_array_length(o->enabled)) {   /* the [devices] and [mdev_TYPE] sections */
		struct json_object *devices = json_object_new_object();
		json_object_object_add(devices, "enabled_mdev_types", json_object_get(o->enabled));
		json_object_object_add(x->json, "devices", devices);
		json_object_object_foreach(o->sections, key, section)
			json_object_object_add(x->json, key, json_object_get(section));
	}
}

static int nova_export(struct export_ctx *x)
{
	int r = numa_policy_check(x->o->numa_policy);
	if (r < 0)
		return r;
	_cleanup_(dp_strv_freep) struct dp_strv requests = {0};
	struct nova_out o = {.specs = json_object_new_array(), .aliases = json_object_new_array(),
	                     .enabled = json_object_new_array(), .sections = json_object_new_object()};
	r = nova_plans_make(x, &o);
	for (size_t p = 0; r == 0 && p < o.nplans; p++)
		nova_pool(x, &o.plans[p], o.specs, o.aliases, &requests);
	_cleanup_free_ char *request = r == 0 ? dp_strv_join(&requests, ",") : NULL;
	if (r == 0 && !request)
		r = dp_oom();
	if (r == 0) {
		nova_text(x, o.plans, o.nplans, o.specs, o.aliases, request);
		nova_mdev_text(x, o.enabled, o.sections);
		nova_json(x, &o, request);
	}
	nova_out_free(&o);
	return r;
}

/* ---- KubeVirt -------------------------------------------------------------------------- */

/* The single exact value a rule gives a key, or NULL (absent, a glob, or a list). */
static const char *rule_exact(const struct dp_rule *rule, enum dp_rule_key key)
{
	for (size_t i = 0; i < rule->n; i++)
		if (rule->terms[i].key == key && rule->terms[i].values.n == 1 &&
		    !strpbrk(rule->terms[i].values.v[0], "*?["))
			return rule->terms[i].values.v[0];
	return NULL;
}

static struct json_object *kv_entry(const char *key, const char *value, const char *resource)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, key, json_object_new_string(value));
	json_object_object_add(o, "resourceName", json_object_new_string(resource));
	return o;
}

/* Kubernetes' extended resource name part: alphanumeric at both ends, -_. inside. */
static bool k8s_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= 63 && isalnum((unsigned char)name[0]) && isalnum((unsigned char)name[n - 1]) &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static bool free_member_of(const struct export_ctx *x, const char *pool, const char *address)
{
	for (size_t k = 0; k < x->members.n; k++)
		if (strcmp(x->members.m[k].pool, pool) == 0 && strcmp(x->members.m[k].address, address) == 0)
			return member_exportable(&x->members.m[k]);
	return false;
}

/* KubeVirt selects by ids: every vfio-pci device with them is offered, whether it is a
 * free member of the pool, a claimed one, or no member at all. */
static void kv_selector_spill_warn(struct export_ctx *x, const struct dp_pool *pool,
                                   const struct dp_pool_member *m, const char *selector)
{
	size_t others = 0;
	for (size_t i = 0; i < x->list->n; i++) {
		const struct dp_pci_device *d = &x->list->dev[i];
		others += d->vendor == m->vendor && d->device == m->device &&
		          !free_member_of(x, pool->name, d->address);
	}
	if (others)
		dp_strv_addf(x->warnings, "WARNING: KubeVirt's selector %s for pool '%s' also offers %zu "
		             "device(s) that are not free members of the pool once they are on vfio-pci",
		             selector, pool->name, others);
}

/* A USB selector is vid:pid alone: members devpass leaves out (the host's only keyboard, a
 * claimed stick) are offered all the same. */
static void kv_usb_spill_warn(struct export_ctx *x, const struct dp_pool *pool, const char *v,
                              const char *d)
{
	char id[16];
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *m = &x->members.m[i];
		snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
		if (strcmp(m->pool, pool->name) == 0 && !member_exportable(m) &&
		    strncmp(id, v, 4) == 0 && strcmp(id + 5, d) == 0)
			dp_strv_addf(x->warnings, "WARNING: KubeVirt's usb selector %s:%s for pool '%s' also "
			             "offers %s, which is %s; keep it unplugged or change the pool's rule",
			             v, d, pool->name, m->address, dp_member_state_name(m->state));
	}
}

/* The domain part of a Kubernetes extended resource name (an RFC 1123 subdomain). */
static bool dns_subdomain_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n)
		return false;
	for (const char *label = s; label; ) {   /* each label: alphanumeric at both ends */
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);
		if (len == 0 || len > 63 || !isalnum((unsigned char)label[0]) ||
		    !isalnum((unsigned char)label[len - 1]))
			return false;
		label = dot ? dot + 1 : NULL;
	}
	return true;
}

static void kv_pci_pool(struct export_ctx *x, const struct dp_pool *pool, const char *resource,
                        struct json_object *out, struct dp_strv *taken)
{
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *m = &x->members.m[i];
		char selector[16], owner[DP_POOL_NAME_MAX + 24];
		if (strcmp(m->pool, pool->name) != 0 || !member_exportable(m))
			continue;
		snprintf(selector, sizeof(selector), "%04X:%04X", m->vendor, m->device);
		snprintf(owner, sizeof(owner), "%s=%s", selector, pool->name);
		if (dp_strv_contains(taken, owner))
			continue;
		bool elsewhere = false;   /* KubeVirt maps one vendor:device to one resource */
		for (size_t t = 0; t < taken->n; t++)
			elsewhere |= strncmp(taken->v[t], selector, 9) == 0;
		if (elsewhere) {
			dp_strv_addf(x->warnings, "WARNING: pool '%s' is left out for %s: KubeVirt gives one "
			             "resource per vendor:device and another pool has it", pool->name, selector);
			continue;
		}
		x->out_of_memory |= dp_strv_add(taken, owner) < 0;
		kv_selector_spill_warn(x, pool, m, selector);
		json_object_array_add(out, kv_entry("pciVendorSelector", selector, resource));
	}
}

/* A rule of an mdev pool without an exact name: the names of the host's types it matches
 * (KubeVirt selects by name only). Returns how many entries it added. */
static size_t kv_mdev_names(const struct dp_rule *rule, const char *resource,
                            struct json_object *mdev)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list types = {0};
	_cleanup_(dp_strv_freep) struct dp_strv seen = {0};
	if (dp_mdev_types_read(NULL, &types) < 0)
		return 0;
	for (size_t i = 0; i < types.n; i++) {
		const char *name = types.t[i].name;
		if (!name || !*name || !mdev_rule_selects(rule, &types.t[i]) ||
		    dp_strv_contains(&seen, name))
			continue;
		if (dp_strv_add(&seen, name) == 0)
			json_object_array_add(mdev, kv_entry("mdevNameSelector", name, resource));
	}
	return seen.n;
}

/* USB and mdev pools have no members devpass claims: their rules say what KubeVirt selects. */
static void kv_rule_pool(struct export_ctx *x, const struct dp_pool *pool, const char *resource,
                         struct json_object *usb, struct json_object *mdev)
{
	for (size_t r = 0; r < pool->rules.n; r++) {
		struct dp_rule rule;
		if (dp_rule_parse(pool->rules.v[r], &rule, NULL) < 0)
			continue;
		const char *id = rule_exact(&rule, DP_RK_ID), *name = rule_exact(&rule, DP_RK_NAME);
		const char *vendor = rule_exact(&rule, DP_RK_VENDOR), *device = rule_exact(&rule, DP_RK_DEVICE);
		char v[8] = "", d[8] = "";
		if (id)
			sscanf(id, "%4[0-9a-f]:%4[0-9a-f]", v, d);
		else if (vendor && device)
			snprintf(v, sizeof(v), "%s", vendor), snprintf(d, sizeof(d), "%s", device);
		if (pool->type == DP_POOL_USB && *v && *d) {
			struct json_object *e = json_object_new_object(), *sel = json_object_new_array(),
			                   *s = json_object_new_object();
			json_object_object_add(s, "vendor", json_object_new_string(v));
			json_object_object_add(s, "product", json_object_new_string(d));
			json_object_array_add(sel, s);
			json_object_object_add(e, "resourceName", json_object_new_string(resource));
			json_object_object_add(e, "selectors", sel);
			json_object_array_add(usb, e);
			kv_usb_spill_warn(x, pool, v, d);
		} else if (pool->type == DP_POOL_MDEV && name) {
			json_object_array_add(mdev, kv_entry("mdevNameSelector", name, resource));
		} else if (pool->type == DP_POOL_MDEV && kv_mdev_names(&rule, resource, mdev) > 0) {
			;   /* the names of the types it matches here */
		} else {
			dp_strv_addf(x->warnings, "WARNING: rule %zu of pool '%s' (%s) has no exact %s: KubeVirt "
			             "cannot select by it", r + 1, pool->name, rule.text,
			             pool->type == DP_POOL_USB ? "id=VVVV:PPPP"
			             : "name=\"TYPE NAME\" (and matches no named type of this host)");
		}
		dp_rule_free(&rule);
	}
}

static void yaml_list(FILE *f, const char *key, struct json_object *arr)
{
	fprintf(f, "  %s:%s\n", key, json_object_array_length(arr) ? "" : " []");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		const char *lead = "  - ";
		json_object_object_foreach(json_object_array_get_idx(arr, i), k, val) {
			if (json_object_is_type(val, json_type_array)) {   /* usb selectors */
				fprintf(f, "%s%s:\n", lead, k);
				for (size_t s = 0; s < json_object_array_length(val); s++) {
					const char *sl = "    - ";
					json_object_object_foreach(json_object_array_get_idx(val, s), sk, sv) {
						fprintf(f, "%s%s: %s\n", sl, sk, json_plain(sv));
						sl = "      ";
					}
				}
			} else {
				fprintf(f, "%s%s: %s\n", lead, k, json_plain(val));
			}
			lead = "    ";
		}
	}
}

static int kubevirt_export(struct export_ctx *x)
{
	const char *prefix = x->o->resource_prefix ? x->o->resource_prefix : "devpass.io";
	if (!dns_subdomain_valid(prefix))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "resource_prefix", "the resource "
		                           "prefix must be a DNS subdomain like devpass.io (lower-case "
		                           "letters, digits, '-' and '.', at most 253 characters)");
	struct json_object *pci = json_object_new_array(), *mdev = json_object_new_array(),
	                   *usb = json_object_new_array();
	struct dp_strv taken = {0};
	for (size_t p = 0; p < x->pools.n; p++) {
		const struct dp_pool *pool = &x->pools.p[p];
		char resource[256];
		if (!pool_wanted(x, pool))
			continue;
		if (!k8s_name_valid(pool->name)) {
			dp_strv_addf(x->warnings, "WARNING: pool '%s' is left out: a Kubernetes resource name "
			             "has at most 63 characters and starts and ends with a letter or digit "
			             "(rename the pool)", pool->name);
			continue;
		}
		snprintf(resource, sizeof(resource), "%s/%s", prefix, pool->name);
		if (pool->type == DP_POOL_PCI || pool->type == DP_POOL_SRIOV_VF)
			kv_pci_pool(x, pool, resource, pci, &taken);
		else
			kv_rule_pool(x, pool, resource, usb, mdev);
	}
	dp_strv_free(&taken);
	struct json_object *phd = json_object_new_object();
	json_object_object_add(phd, "pciHostDevices", pci);
	json_object_object_add(phd, "mediatedDevices", mdev);
	json_object_object_add(phd, "usb", usb);
	fprintf(x->text, "# devpass export kubevirt: spec.configuration of the KubeVirt CR\n"
	        "# (kubectl edit kubevirt -n kubevirt kubevirt). KubeVirt offers PCI devices only\n"
	        "# while they are bound to vfio-pci: 'devpass persist' keeps them there.\n"
	        "permittedHostDevices:\n");
	yaml_list(x->text, "pciHostDevices", pci);
	yaml_list(x->text, "mediatedDevices", mdev);
	yaml_list(x->text, "usb", usb);
	x->json = json_object_new_object();
	json_object_object_add(x->json, "permittedHostDevices", phd);
	return 0;
}

/* ---- Proxmox VE ---------------------------------------------------------------------------- */

/* a host name label, as Proxmox's pve-node format */
static bool pve_node_valid(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n < 64 && name[0] != '-' && name[n - 1] != '-' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static int node_name(const struct export_ctx *x, char *out, size_t size)
{
	if (x->o->node) {
		if (!pve_node_valid(x->o->node))
			return dp_error_set(-EINVAL, "'%s' is not a Proxmox node name (letters, digits and "
			                    "'-', not at either end)", x->o->node);
		snprintf(out, size, "%s", x->o->node);
		return 0;
	}
	if (dp_fs_read_line("etc/hostname", out, size) > 0 ||
	    dp_fs_read_line("proc/sys/kernel/hostname", out, size) > 0) {
		out[strcspn(out, ".")] = '\0';   /* Proxmox node names are short host names */
		if (pve_node_valid(out))
			return 0;
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "node", "this host's name '%s' "
		                           "is not a Proxmox node name: the node name must be given", out);
	}
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_PARAMETER, "node", "cannot tell this host's "
	                           "name (no /etc/hostname): the node name must be given");
}

static struct json_object *pve_map(const struct dp_pool_member *m, const char *node)
{
	struct json_object *o = json_object_new_object();
	char id[16], sub[16];
	snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
	snprintf(sub, sizeof(sub), "%04x:%04x", m->subsys_vendor, m->subsys_device);
	json_object_object_add(o, "node", json_object_new_string(node));
	json_object_object_add(o, "path", json_object_new_string(m->address));
	json_object_object_add(o, "id", json_object_new_string(id));
	if (m->group >= 0)
		json_object_object_add(o, "iommugroup", json_object_new_int(m->group));
	/* always: Proxmox compares it with sysfs, 0000:0000 included */
	json_object_object_add(o, "subsystem-id", json_object_new_string(sub));
	return o;
}

static void pve_text(FILE *f, struct json_object *mapping)
{
	struct json_object *v;
	json_object_object_get_ex(mapping, "id", &v);
	fprintf(f, "%s\n", json_object_get_string(v));
	if (json_object_object_get_ex(mapping, "description", &v))
		fprintf(f, "\tdescription %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(mapping, "mdev", &v) && json_object_get_boolean(v))
		fprintf(f, "\tmdev 1\n");
	json_object_object_get_ex(mapping, "map", &v);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *sep = "\tmap ";
		json_object_object_foreach(json_object_array_get_idx(v, i), k, val) {
			fprintf(f, "%s%s=%s", sep, k, json_object_get_string(val));
			sep = ",";
		}
		fputc('\n', f);
	}
	fputc('\n', f);
}

/* usb.cfg's map: by vid:pid, and by the port too when the member is known by its port (no
 * serial: its identity in the claims is vid:pid@port) */
static struct json_object *pve_usb_map(const struct dp_pool_member *m, const char *node)
{
	struct json_object *o = json_object_new_object();
	char id[16];
	snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
	json_object_object_add(o, "node", json_object_new_string(node));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "path", json_object_new_string(m->address));
	return o;
}

/* Proxmox's pve-configid */
static bool pve_id_valid(const char *name)
{
	size_t n = strlen(name);
	return n > 1 && ((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* One pool's mapping (NULL: nothing to map, said in a warning). */
static struct json_object *pve_mapping(struct export_ctx *x, const struct dp_pool *pool,
                                       const char *node)
{
	bool usb = pool->type == DP_POOL_USB;
	struct json_object *mapping = json_object_new_object(), *maps = json_object_new_array();
	json_object_object_add(mapping, "id", json_object_new_string(pool->name));
	if (*pool->description)
		json_object_object_add(mapping, "description", json_object_new_string(pool->description));
	if (pool->type == DP_POOL_MDEV)
		json_object_object_add(mapping, "mdev", json_object_new_boolean(1));
	for (size_t i = 0; i < x->members.n; i++) {
		const struct dp_pool_member *m = &x->members.m[i];
		if (strcmp(m->pool, pool->name) != 0 || !member_exportable(m))
			continue;
		if (usb && json_object_array_length(maps) > 0) {   /* a USB mapping: one per node */
			dp_strv_addf(x->warnings, "WARNING: %s of pool '%s' is left out: a Proxmox USB "
			             "mapping holds one device per node", m->address, pool->name);
			continue;
		}
		json_object_array_add(maps, usb ? pve_usb_map(m, node) : pve_map(m, node));
	}
	json_object_object_add(mapping, "map", maps);
	if (usb)
		json_object_object_add(mapping, "file", json_object_new_string("usb.cfg"));
	if (json_object_array_length(maps) > 0)
		return mapping;
	/* Proxmox drops a mapping without a map line */
	if (usb)
		dp_strv_addf(x->warnings, "WARNING: pool '%s' (usb) is left out: it has no member to "
		             "map in usb.cfg", pool->name);
	else if (pool->type == DP_POOL_MDEV)
		dp_strv_addf(x->warnings, "WARNING: pool '%s' (mdev) is left out: devpass has no mdev "
		             "parents to map yet", pool->name);
	json_object_put(mapping);
	return NULL;
}

/* pci.cfg's mappings first, then usb.cfg's under one heading: the two are separate files. */
static void pve_file(struct export_ctx *x, const char *node, bool usb)
{
	bool headed = false;
	for (size_t p = 0; p < x->pools.n; p++) {
		const struct dp_pool *pool = &x->pools.p[p];
		if (!pool_wanted(x, pool) || (pool->type == DP_POOL_USB) != usb)
			continue;
		if (!pve_id_valid(pool->name)) {
			dp_strv_addf(x->warnings, "WARNING: pool '%s' is left out: a Proxmox mapping id has at "
			             "least 2 characters, starts with a letter and holds letters, digits, '-' "
			             "and '_' (rename the pool: export, edit, import)", pool->name);
			continue;
		}
		struct json_object *mapping = pve_mapping(x, pool, node);
		if (!mapping)
			continue;
		if (usb && !headed)
			fprintf(x->text, "# ---- /etc/pve/mapping/usb.cfg (node %s) ----\n\n", node);
		headed = true;
		pve_text(x->text, mapping);
		json_object_array_add(x->json, mapping);
	}
}

static int proxmox_export(struct export_ctx *x)
{
	char node[256];
	int r = node_name(x, node, sizeof(node));
	if (r < 0)
		return r;
	x->json = json_object_new_array();
	fprintf(x->text, "# devpass export proxmox: /etc/pve/mapping/pci.cfg (node %s).\n"
	        "# Proxmox picks the first free map entry of a mapping when a VM starts.\n"
	        "# Only free pool members are mapped: claimed and quarantined ones are left out.\n\n",
	        node);
	pve_file(x, node, false);
	pve_file(x, node, true);
	return 0;
}

/* ---- entry ------------------------------------------------------------------------------------ */

int dp_export(enum dp_export_target target, const struct dp_pci_list *list,
              const struct dp_export_options *o, char **text, struct json_object **json,
              struct dp_strv *warnings)
{
	struct export_ctx x = {.o = o, .list = list, .warnings = warnings};
	size_t len;
	*text = NULL;
	*json = NULL;
	int r = dp_pools_read(&x.pools);
	if (r == 0)
		r = dp_pool_members_read(list, o->pool, &x.members);
	if (r == 0 && x.pools.n == 0)
		r = dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_DEFINE, NULL, "no pools are defined");
	if (r < 0) {
		dp_pool_list_free(&x.pools);
		return r;
	}
	skipped_warn(&x);
	shared_groups_warn(&x);
	if (!(x.text = open_memstream(text, &len))) {
		dp_pool_members_free(&x.members);
		dp_pool_list_free(&x.pools);
		return dp_oom();
	}
	r = target == DP_EXPORT_NOVA ? nova_export(&x)
	    : target == DP_EXPORT_KUBEVIRT ? kubevirt_export(&x) : proxmox_export(&x);
	fclose(x.text);
	if (r == 0 && x.out_of_memory)
		r = dp_oom();
	for (size_t p = 0; r == 0 && p < x.pools.n; p++)
		if (pool_wanted(&x, &x.pools.p[p]) && x.pools.p[p].type <= DP_POOL_SRIOV_VF &&
		    pool_member_count(&x, x.pools.p[p].name) == 0)
			dp_strv_addf(warnings, "WARNING: pool '%s' has no device to export", x.pools.p[p].name);
	*json = x.json;
	if (r < 0) {
		free(*text);
		*text = NULL;
	}
	dp_pool_members_free(&x.members);
	dp_pool_list_free(&x.pools);
	return r;
}
