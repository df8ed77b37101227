/* Domain XML surgery with libxml2's tree API: what a domain passes through, where the
 * next free guest bus is, and adding or taking out devpass's device elements together
 * with the root ports and the <metadata> record that go with them. No libvirt calls:
 * the hook runs inside libvirt's start sequence and must never call back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "alloc-util.h"
#include "export/export.h"
#include "libvirt/libvirt-int.h"
#include "util/error.h"

/* The whole domain, its root checked: what every edit starts from. */
static int doc_read(const char *xml, xmlDocPtr *doc)
{
	int r = dp_xml_read(xml, "domain XML", 0, doc);
	if (r < 0)
		return r;
	xmlNodePtr root = xmlDocGetRootElement(*doc);
	if (!root || !xmlStrEqual(root->name, BAD_CAST "domain"))
		return dp_error_set(-EINVAL, "the XML is no libvirt domain (its root element is not "
		                    "<domain>)");
	return 0;
}

static xmlNodePtr child_named(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
			return c;
	return NULL;
}

static bool attr_is(xmlNodePtr n, const char *attr, const char *value)
{
	_cleanup_xmlstr_ xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	return v && strcmp((const char *)v, value) == 0;
}

/* libvirt writes numbers in hex ("0x10") or decimal; -1 when absent or not a number. */
static long attr_number(xmlNodePtr n, const char *attr)
{
	_cleanup_xmlstr_ xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long x = strtol((const char *)v, &end, 0);
	return errno || *end || x < 0 ? -1 : x;
}

static void attr_copy(xmlNodePtr n, const char *attr, char *out, size_t size)
{
	_cleanup_xmlstr_ xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	snprintf(out, size, "%s", v ? (const char *)v : "");
}

static void text_copy(xmlNodePtr n, char *out, size_t size)
{
	_cleanup_xmlstr_ xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	snprintf(out, size, "%s", v ? (const char *)v : "");
}

/* ---- what a domain passes through ---------------------------------------------------- */
void lv_domain_free(struct lv_domain *d)
{
	free(d->s);
	*d = (struct lv_domain){0};
}

bool lv_alias_is_devpass(const char *alias)
{
	return strncmp(alias, LV_ALIAS_PREFIX, strlen(LV_ALIAS_PREFIX)) == 0;
}

static void pci_address_of(xmlNodePtr a, char out[DP_ADDR_LEN])
{
	long d = attr_number(a, "domain"), b = attr_number(a, "bus"), s = attr_number(a, "slot"),
	     f = attr_number(a, "function");
	if (d < 0 || d > 0xffff || b < 0 || b > 0xff || s < 0 || s > 0x1f || f < 0 || f > 7)
		out[0] = '\0';
	else
		snprintf(out, DP_ADDR_LEN, "%04lx:%02lx:%02lx.%lx", d, b, s, f);
}

/* The kind and source of a <hostdev> or <interface type='hostdev'>; false for others. */
static bool source_read(xmlNodePtr n, struct lv_source *s)
{
	bool hostdev = xmlStrEqual(n->name, BAD_CAST "hostdev");
	if (!hostdev && !(xmlStrEqual(n->name, BAD_CAST "interface") && attr_is(n, "type", "hostdev")))
		return false;
	*s = (struct lv_source){.kind = hostdev ? DP_HOSTDEV_PCI : DP_HOSTDEV_NET};
	xmlNodePtr src = child_named(n, "source"), addr = child_named(src, "address");
	attr_copy(child_named(n, "alias"), "name", s->alias, sizeof(s->alias));
	if (hostdev && attr_is(n, "type", "usb")) {
		s->kind = DP_HOSTDEV_USB;
		long v = attr_number(child_named(src, "vendor"), "id");
		long p = attr_number(child_named(src, "product"), "id");
		s->vendor = v > 0 && v <= 0xffff ? (uint16_t)v : 0;
		s->product = p > 0 && p <= 0xffff ? (uint16_t)p : 0;
	} else if (hostdev && attr_is(n, "type", "mdev")) {
		s->kind = DP_HOSTDEV_MDEV;
		attr_copy(addr, "uuid", s->uuid, sizeof(s->uuid));
	} else if (hostdev && !attr_is(n, "type", "pci")) {
		return false;   /* scsi, scsi_host, mdev-less kinds devpass does not hand out */
	} else if (addr) {
		pci_address_of(addr, s->address);
	}
	return true;
}

static int source_add(struct lv_domain *d, const struct lv_source *s)
{
	if (dp_array_grow(&d->s, d->n, 1, sizeof(*d->s)) < 0)
		return dp_oom();
	d->s[d->n++] = *s;
	return 0;
}

static int sources_collect(xmlNodePtr devices, struct lv_domain *out)
{
	for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
		struct lv_source s;
		if (c->type == XML_ELEMENT_NODE && source_read(c, &s) && source_add(out, &s) < 0)
			return -ENOMEM;
	}
	return 0;
}

int lv_domain_parse(const char *xml, struct lv_domain *out)
{
	_cleanup_xmldoc_ xmlDocPtr doc = NULL;
	*out = (struct lv_domain){0};
	int r = doc_read(xml, &doc);
	if (r < 0)
		return r;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	text_copy(child_named(root, "name"), out->name, sizeof(out->name));
	text_copy(child_named(root, "uuid"), out->uuid, sizeof(out->uuid));
	if (!out->name[0])
		return dp_error_set(-EINVAL, "the domain XML names no domain (no <name>)");
	if ((r = sources_collect(child_named(root, "devices"), out)) < 0)
		lv_domain_free(out);
	return r;
}

bool lv_source_matches(const struct lv_source *s, const char *text)
{
	char usb[16];
	struct dp_pci_addr a;
	char normal[DP_ADDR_LEN];
	if ((s->kind == DP_HOSTDEV_PCI || s->kind == DP_HOSTDEV_NET) &&
	    dp_pci_addr_parse(text, &a) == 0) {
		dp_pci_addr_format(&a, normal);
		return strcmp(normal, s->address) == 0;
	}
	if (s->kind == DP_HOSTDEV_MDEV)
		return strcasecmp(text, s->uuid) == 0;
	snprintf(usb, sizeof(usb), "%04x:%04x", s->vendor, s->product);
	return s->kind == DP_HOSTDEV_USB && strncasecmp(text, usb, strlen(usb)) == 0;
}

/* ---- the next free guest bus ------------------------------------------------------------ */
static void buses_scan(xmlNodePtr n, long *max)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		long x = -1;
		if (xmlStrEqual(n->name, BAD_CAST "controller") && attr_is(n, "type", "pci"))
			x = attr_number(n, "index");
		else if (xmlStrEqual(n->name, BAD_CAST "address") && attr_is(n, "type", "pci"))
			x = attr_number(n, "bus");
		if (x > *max)
			*max = x;
		buses_scan(n->children, max);
	}
}

int lv_xml_first_free_bus(const char *xml, int *bus)
{
	_cleanup_xmldoc_ xmlDocPtr doc = NULL;
	int r = doc_read(xml, &doc);
	if (r < 0)
		return r;
	long max = 0;
	buses_scan(xmlDocGetRootElement(doc)->children, &max);
	if (max >= 0xff)
		return dp_error_set(-E2BIG, "the domain uses PCI bus 0xff: no bus is left for another "
		                    "root port");
	*bus = (int)max + 1;
	return 0;
}

/* ---- adding devpass's elements ---------------------------------------------------------- */
static xmlNodePtr devices_node(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), d = child_named(root, "devices");
	return d ? d : xmlNewChild(root, NULL, BAD_CAST "devices", NULL);
}

/* The element dp_hostdev_xml renders, parsed and copied into doc. */
static int element_import(xmlDocPtr doc, const struct dp_hostdev *h, xmlNodePtr *out)
{
	_cleanup_free_ char *text = NULL;
	int r = dp_hostdev_xml(h, 0, &text);
	if (r < 0)
		return r;
	_cleanup_xmldoc_ xmlDocPtr frag = NULL;
	if ((r = dp_xml_read(text, "hostdev element", XML_PARSE_NOBLANKS, &frag)) < 0)
		return r;
	xmlNodePtr root = xmlDocGetRootElement(frag);
	*out = root ? xmlDocCopyNode(root, doc, 1) : NULL;
	if (!root)
		return dp_error_set(-EINVAL, "the element rendered for %s is not XML", h->alias);
	return *out ? 0 : dp_oom();
}

static bool controller_exists(xmlNodePtr devices, int index)
{
	for (xmlNodePtr c = devices->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "controller") &&
		    attr_is(c, "type", "pci") && attr_number(c, "index") == index)
			return true;
	return false;
}

static xmlNodePtr metadata_node(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), m = child_named(root, "metadata");
	if (m)
		return m;
	m = xmlNewDocNode(doc, NULL, BAD_CAST "metadata", NULL);
	xmlNodePtr after = child_named(root, "uuid");
	after = after ? after : child_named(root, "name");
	return !m ? NULL : after ? xmlAddNextSibling(after, m) : xmlAddChild(root, m);
}

/* devpass's element under <metadata> (one top-level element per namespace). */
static xmlNodePtr record_node(xmlDocPtr doc, bool create)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), meta = child_named(root, "metadata");
	for (xmlNodePtr c = meta ? meta->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns &&
		    xmlStrEqual(c->ns->href, BAD_CAST LV_METADATA_NS))
			return c;
	if (!create || !(meta = metadata_node(doc)))
		return NULL;
	xmlNodePtr rec = xmlNewChild(meta, NULL, BAD_CAST "attached", NULL);
	xmlNsPtr ns = rec ? xmlNewNs(rec, BAD_CAST LV_METADATA_NS, BAD_CAST "devpass") : NULL;
	if (ns)
		xmlSetNs(rec, ns);
	return ns ? rec : NULL;
}

static int controller_add(xmlNodePtr devices, xmlNodePtr rec, int bus)
{
	char index[16];
	snprintf(index, sizeof(index), "%d", bus);
	if (controller_exists(devices, bus))
		return 0;
	xmlNodePtr c = xmlNewChild(devices, NULL, BAD_CAST "controller", NULL);
	xmlNodePtr note = xmlNewChild(rec, rec->ns, BAD_CAST "controller", NULL);
	if (!c || !note || !xmlSetProp(c, BAD_CAST "type", BAD_CAST "pci") ||
	    !xmlSetProp(c, BAD_CAST "index", BAD_CAST index) ||
	    !xmlSetProp(c, BAD_CAST "model", BAD_CAST "pcie-root-port") ||
	    !xmlSetProp(note, BAD_CAST "index", BAD_CAST index))
		return dp_oom();
	return 0;
}

static const char *kind_name(enum dp_hostdev_kind k)
{
	return k == DP_HOSTDEV_USB ? "usb" : k == DP_HOSTDEV_MDEV ? "mdev" :
	       k == DP_HOSTDEV_NET ? "net" : "pci";
}

static int record_device(xmlNodePtr rec, const struct dp_hostdev *h, const char *owner)
{
	char source[64];
	if (h->kind == DP_HOSTDEV_USB)
		snprintf(source, sizeof(source), "%04x:%04x", h->usb_vendor, h->usb_product);
	else
		snprintf(source, sizeof(source), "%s", h->kind == DP_HOSTDEV_MDEV ? h->uuid : h->address);
	xmlNodePtr d = xmlNewChild(rec, rec->ns, BAD_CAST "device", NULL);
	if (!d || !xmlSetProp(d, BAD_CAST "alias", BAD_CAST h->alias) ||
	    !xmlSetProp(d, BAD_CAST "kind", BAD_CAST kind_name(h->kind)) ||
	    !xmlSetProp(d, BAD_CAST "source", BAD_CAST source) ||
	    !xmlSetProp(d, BAD_CAST "pool", BAD_CAST h->pool) ||
	    !xmlSetProp(d, BAD_CAST "owner", BAD_CAST owner))
		return dp_oom();
	return 0;
}

static int set_insert(xmlDocPtr doc, const struct dp_hostdev_set *set, const char *owner)
{
	xmlNodePtr devices = devices_node(doc), rec = record_node(doc, true);
	if (!devices || !rec)
		return dp_oom();
	for (size_t i = 0; i < set->n; i++) {
		const struct dp_hostdev *h = &set->h[i];
		xmlNodePtr el;
		int r = h->guest.set ? controller_add(devices, rec, h->guest.bus) : 0;
		if (r == 0)
			r = element_import(doc, h, &el);
		if (r < 0)
			return r;
		if (!xmlAddChild(devices, el)) {
			xmlFreeNode(el);
			return dp_oom();
		}
		if ((r = record_device(rec, h, owner)) < 0)
			return r;
	}
	return 0;
}

int lv_xml_insert(const char *xml, const struct dp_hostdev_set *set, const char *owner,
                  char **out)
{
	_cleanup_xmldoc_ xmlDocPtr doc = NULL;
	int r = doc_read(xml, &doc);
	if (r == 0)
		r = set_insert(doc, set, owner);
	return r < 0 ? r : dp_xml_dump(doc, out);
}

/* ---- taking them out --------------------------------------------------------------------- */
static bool wanted(const struct lv_source *s, char *const *devices, size_t n)
{
	if (!lv_alias_is_devpass(s->alias))
		return false;
	for (size_t i = 0; i < n; i++)
		if (lv_source_matches(s, devices[i]))
			return true;
	return n == 0;
}

static int elements_remove(xmlNodePtr devices, char *const *devices_wanted, size_t n,
                           struct lv_domain *removed)
{
	xmlNodePtr next;
	for (xmlNodePtr c = devices ? devices->children : NULL; c; c = next) {
		next = c->next;
		struct lv_source s;
		if (c->type != XML_ELEMENT_NODE || !source_read(c, &s) || !wanted(&s, devices_wanted, n))
			continue;
		if (source_add(removed, &s) < 0)
			return -ENOMEM;
		xmlUnlinkNode(c);
		xmlFreeNode(c);
	}
	return 0;
}

static bool bus_in_use(xmlNodePtr n, long bus)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(n->name, BAD_CAST "address") && attr_is(n, "type", "pci") &&
		    attr_number(n, "bus") == bus)
			return true;
		if (bus_in_use(n->children, bus))
			return true;
	}
	return false;
}

static void controller_remove(xmlNodePtr devices, long index)
{
	for (xmlNodePtr c = devices->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "controller") &&
		    attr_is(c, "type", "pci") && attr_number(c, "index") == index) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
			return;
		}
}

static bool record_entry_gone(xmlNodePtr e, xmlNodePtr devices, struct lv_domain *removed)
{
	if (xmlStrEqual(e->name, BAD_CAST "controller")) {
		long index = attr_number(e, "index");
		if (bus_in_use(devices->children, index))
			return false;
		controller_remove(devices, index);
		return true;
	}
	_cleanup_xmlstr_ xmlChar *alias = xmlGetProp(e, BAD_CAST "alias");
	for (size_t i = 0; alias && i < removed->n; i++)
		if (strcmp(removed->s[i].alias, (const char *)alias) == 0) {
			attr_copy(e, "pool", removed->s[i].pool, sizeof(removed->s[i].pool));
			return true;
		}
	return false;
}

/* The record loses what was removed; an empty record, and an empty <metadata>, go too. */
static void record_prune(xmlDocPtr doc, xmlNodePtr devices, struct lv_domain *removed)
{
	xmlNodePtr rec = record_node(doc, false), next;
	if (!rec)
		return;
	for (xmlNodePtr e = rec->children; e; e = next) {
		next = e->next;
		if (e->type == XML_ELEMENT_NODE && record_entry_gone(e, devices, removed)) {
			xmlUnlinkNode(e);
			xmlFreeNode(e);
		}
	}
	if (child_named(rec, "device") || child_named(rec, "controller"))
		return;
	xmlNodePtr meta = rec->parent;
	xmlUnlinkNode(rec);
	xmlFreeNode(rec);
	if (!xmlFirstElementChild(meta)) {
		xmlUnlinkNode(meta);
		xmlFreeNode(meta);
	}
}

int lv_xml_remove(const char *xml, char *const *devices, size_t n, char **out,
                  struct lv_domain *removed)
{
	_cleanup_xmldoc_ xmlDocPtr doc = NULL;
	*removed = (struct lv_domain){0};
	int r = doc_read(xml, &doc);
	if (r < 0)
		return r;
	xmlNodePtr devs = child_named(xmlDocGetRootElement(doc), "devices");
	if ((r = elements_remove(devs, devices, n, removed)) == 0) {
		if (devs)
			record_prune(doc, devs, removed);
		r = dp_xml_dump(doc, out);
	}
	if (r < 0)
		lv_domain_free(removed);
	return r;
}
