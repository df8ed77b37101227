/* Internal to the export unit: the libxml2 writer helpers the renderers share. */
#ifndef DP_EXPORT_H
#define DP_EXPORT_H

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "alloc-util.h"
#include "devpass.h"

/* A writer into a memory buffer, indented two spaces, no XML declaration; attributes in
 * single quotes (dp_xml_open) or in double quotes as libxml2 saves a tree (the domain). */
struct dp_xml {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int err;                       /* the first failure, sticky: later calls do nothing */
};
int dp_xml_open(struct dp_xml *x);
int dp_xml_open_quoted(struct dp_xml *x, char quote);
void dp_xml_close(struct dp_xml *x);
/* Ends the document and hands the text over (malloc'ed); the writer is closed. */
int dp_xml_finish(struct dp_xml *x, char **out);
void dp_xml_start(struct dp_xml *x, const char *element);
void dp_xml_end(struct dp_xml *x);
void dp_xml_attr(struct dp_xml *x, const char *name, const char *value);
void dp_xml_attrf(struct dp_xml *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dp_xml_text_element(struct dp_xml *x, const char *element, const char *text);
/* Text inside the open element, after its attributes, escaped as a saved tree is. */
void dp_xml_text(struct dp_xml *x, const char *text);
void dp_xml_comment(struct dp_xml *x, const char *text);

/* Parsing and editing an existing document (the tree API): the cleanups, a read that never
 * touches the network and keeps libxml2's own messages off stderr, a dump as libvirt
 * prints a domain (indented, with the XML declaration). */
void dp_xml_docp(xmlDocPtr *doc);
#define _cleanup_xmldoc_ _cleanup_(dp_xml_docp)
void dp_xml_strp(xmlChar **p);
#define _cleanup_xmlstr_ _cleanup_(dp_xml_strp)
/* options: XML_PARSE_* beyond NONET; what names the document in the error message. */
int dp_xml_read(const char *xml, const char *what, int options, xmlDocPtr *doc);
int dp_xml_dump(xmlDocPtr doc, char **out);

/* One hostdev element into a writer the caller holds (the domain's <devices>); -errno,
 * with the device named, when libvirt would refuse it. */
int dp_hostdev_render(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags);

/* Appends a zeroed entry to the set; NULL when out of memory. */
struct dp_hostdev *dp_hostdev_set_append(struct dp_hostdev_set *s);
/* Adds the function (and, for PCI, every endpoint of its IOMMU group) unless present. */
int dp_hostdev_set_add_pci(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                           const struct dp_pci_device *dev, const char *pool);
/* A device by its name: a PCI address, a USB location or vid:pid[:serial], an mdev UUID. */
int dp_hostdev_set_add_device(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                              const char *text, const char *pool);
/* What owner holds through claims (units_only: its usb and mdev claims alone); returns
 * the number of claims, or -errno. */
int dp_hostdev_set_add_claims(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                              const char *owner, bool units_only);

#endif
