/* The libxml2 text writer as the renderers use it: a memory buffer, two-space indent,
 * attributes in single quotes as virsh prints them, and one sticky error so a renderer
 * writes a whole element and checks once at the end. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

int dp_xml_open(struct dp_xml *x)
{
	*x = (struct dp_xml){0};
	x->buf = xmlBufferCreate();
	x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
	if (!x->w) {
		dp_xml_close(x);
		return dp_oom();
	}
	if (xmlTextWriterSetIndent(x->w, 1) < 0 || xmlTextWriterSetIndentString(x->w, BAD_CAST "  ") < 0 ||
	    xmlTextWriterSetQuoteChar(x->w, '\'') < 0) {
		dp_xml_close(x);
		return dp_error_set(-EIO, "the XML writer refused its settings");
	}
	return 0;
}

void dp_xml_close(struct dp_xml *x)
{
	if (x->w)
		xmlFreeTextWriter(x->w);   /* frees nothing of the buffer */
	if (x->buf)
		xmlBufferFree(x->buf);
	x->w = NULL;
	x->buf = NULL;
}

static void xml_check(struct dp_xml *x, int r)
{
	if (r < 0 && x->err == 0)
		x->err = -EIO;
}

int dp_xml_finish(struct dp_xml *x, char **out)
{
	if (x->err == 0)
		xml_check(x, xmlTextWriterFlush(x->w));
	if (x->err < 0) {
		dp_xml_close(x);
		return dp_error_set(x->err, "the XML writer failed (out of memory?)");
	}
	char *text = strdup((const char *)xmlBufferContent(x->buf));
	dp_xml_close(x);
	if (!text)
		return dp_oom();
	*out = text;
	return 0;
}

void dp_xml_start(struct dp_xml *x, const char *element)
{
	if (x->err == 0)
		xml_check(x, xmlTextWriterStartElement(x->w, BAD_CAST element));
}

void dp_xml_end(struct dp_xml *x)
{
	if (x->err == 0)
		xml_check(x, xmlTextWriterEndElement(x->w));
}

void dp_xml_attr(struct dp_xml *x, const char *name, const char *value)
{
	if (x->err == 0)
		xml_check(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value));
}

void dp_xml_attrf(struct dp_xml *x, const char *name, const char *fmt, ...)
{
	char value[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value))
		x->err = x->err ? x->err : -EOVERFLOW;
	dp_xml_attr(x, name, value);
}

void dp_xml_text_element(struct dp_xml *x, const char *element, const char *text)
{
	if (x->err == 0)
		xml_check(x, xmlTextWriterWriteElement(x->w, BAD_CAST element, BAD_CAST text));
}

/* "--" may not appear inside a comment: a pool name cannot break the document. */
void dp_xml_comment(struct dp_xml *x, const char *text)
{
	_cleanup_free_ char *safe = strdup(text);
	if (!safe) {
		x->err = x->err ? x->err : -ENOMEM;
		return;
	}
	for (char *p = safe; (p = strstr(p, "--")); p++)
		p[1] = '_';
	if (x->err == 0)
		xml_check(x, xmlTextWriterWriteFormatComment(x->w, " %s ", safe));
}

/* ---- the tree side: documents read, edited and written back ---------------------------- */
void dp_xml_docp(xmlDocPtr *doc)
{
	if (*doc)
		xmlFreeDoc(*doc);
}

void dp_xml_strp(xmlChar **p)
{
	if (*p)
		xmlFree(*p);
}

int dp_xml_read(const char *xml, const char *what, int options, xmlDocPtr *doc)
{
	options |= XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
	*doc = xml ? xmlReadMemory(xml, (int)strlen(xml), what, NULL, options) : NULL;
	if (*doc)
		return 0;
	const xmlError *e = xmlGetLastError();
	return dp_error_set(-EINVAL, "the %s cannot be parsed: %s", what,
	                    e && e->message ? e->message : "empty");
}

int dp_xml_dump(xmlDocPtr doc, char **out)
{
	xmlChar *buf = NULL;
	int len = 0;
	xmlDocDumpFormatMemory(doc, &buf, &len, 1);
	*out = buf ? strndup((const char *)buf, (size_t)len) : NULL;
	xmlFree(buf);
	return *out ? 0 : dp_oom();
}
