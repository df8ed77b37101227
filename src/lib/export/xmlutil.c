/* The libxml2 text writer as the renderers use it: a memory buffer, two-space indent,
 * attributes in single quotes as virsh prints them, and one sticky error so a renderer
 * writes a whole element and checks once at the end. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

int dp_xml_open(struct dp_xml *x)
{
	return dp_xml_open_quoted(x, '\'');
}

int dp_xml_open_quoted(struct dp_xml *x, char quote)
{
	*x = (struct dp_xml){0};
	x->buf = xmlBufferCreate();
	x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
	if (!x->w) {
		dp_xml_close(x);
		return dp_oom();
	}
	if (xmlTextWriterSetIndent(x->w, 1) < 0 || xmlTextWriterSetIndentString(x->w, BAD_CAST "  ") < 0 ||
	    xmlTextWriterSetQuoteChar(x->w, (xmlChar)quote) < 0) {
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

/* &, <, > and CR as libxml2's tree save escapes text; the writer's own escaping would turn
 * " into &quot; as well, and a domain's kernel command line would read differently. */
static char *text_escape(const char *text)
{
	size_t n = strlen(text);
	char *out = n < SIZE_MAX / 5 ? malloc(n * 5 + 1) : NULL, *o = out;
	for (const char *p = text; out && *p; p++) {
		const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" :
		                *p == '\r' ? "&#13;" : NULL;
		if (e)
			o = stpcpy(o, e);
		else
			*o++ = *p;
	}
	if (out)
		*o = '\0';
	return out;
}

void dp_xml_text(struct dp_xml *x, const char *text)
{
	if (x->err)
		return;
	_cleanup_free_ char *escaped = text_escape(text);
	if (!escaped)
		x->err = -ENOMEM;
	else
		xml_check(x, xmlTextWriterWriteRaw(x->w, BAD_CAST escaped));
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
