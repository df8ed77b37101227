/* Internal to the libvirt unit: domain XML surgery (domxml.c, libxml2 only, no libvirt
 * calls, so the unit tests and the hook use it without a daemon). */
#ifndef DP_LIBVIRT_INT_H
#define DP_LIBVIRT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devpass.h"

#define LV_ALIAS_PREFIX "ua-devpass-"
/* The namespace of devpass's element under a domain's <metadata>. */
#define LV_METADATA_NS "https://devpass.dev/xmlns/libvirt/1"

/* One device element of a domain: what it passes through and the alias it carries. */
struct lv_source {
	enum dp_hostdev_kind kind;
	char address[DP_ADDR_LEN];   /* PCI, NET */
	char uuid[37];               /* MDEV */
	uint16_t vendor, product;    /* USB */
	char alias[64];              /* "" none */
	char pool[DP_POOL_NAME_MAX + 1];   /* lv_xml_remove: from devpass's metadata, "" none */
};
struct lv_domain {
	char name[256];
	char uuid[37];
	struct lv_source *s;
	size_t n;
};
void lv_domain_free(struct lv_domain *d);
/* Name, uuid and every hostdev / interface type='hostdev' source of a domain XML. */
int lv_domain_parse(const char *xml, struct lv_domain *out);
/* The first PCI bus above every controller index and guest bus the domain uses. */
int lv_xml_first_free_bus(const char *xml, int *bus);
/* The domain XML with the set's elements (dp_hostdev_xml), a pcie-root-port controller
 * for each guest bus it lacks, and devpass's metadata naming owner and pools. */
int lv_xml_insert(const char *xml, const struct dp_hostdev_set *set, const char *owner,
                  char **out);
/* The domain XML without devpass's elements (alias ua-devpass-*), only those whose
 * source is in devices when n > 0, and without the controllers devpass added for
 * them; removed gets the elements taken out. */
int lv_xml_remove(const char *xml, char *const *devices, size_t n, char **out,
                  struct lv_domain *removed);
/* A source named by text: a PCI address, an mdev UUID or a USB vid:pid. */
bool lv_source_matches(const struct lv_source *s, const char *text);
bool lv_alias_is_devpass(const char *alias);

#endif
