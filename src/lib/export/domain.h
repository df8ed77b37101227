/* Internal to the export unit: the libvirt domain of a devpass VM (domain.c). */
#ifndef DP_EXPORT_DOMAIN_H
#define DP_EXPORT_DOMAIN_H

#include "export/vmexport.h"

/* RFC 4122 version 3 (MD5) uuid of a VM name in devpass's namespace: the same name always
 * gives the same libvirt domain uuid. */
int dp_domain_uuid(const char *name, char out[37]);
/* The domain of a loaded VM whose hostdev set is placed. */
int dp_domain_xml(const struct vm_export *vm, char **xml, struct dp_strv *warnings);

#endif
