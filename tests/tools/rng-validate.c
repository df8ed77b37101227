/* rng-validate TYPE [FILE|-]: validates an XML document against libvirt's RelaxNG schema
 * TYPE (domain, nodedev, network, ...) from $DEVPASS_RNG_DIR or /usr/share/libvirt/schemas.
 * Exit 0 valid, 1 invalid (libxml2's messages on stderr), 2 usage or unreadable input,
 * 77 schema missing (the automake "skip" status, so a test can skip). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define EXIT_SKIP 77

static char *read_stream(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *grown = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
		if (!grown) {
			free(buf);
			return NULL;
		}
		buf = grown;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static char *read_input(const char *path, size_t *len)
{
	if (strcmp(path, "-") == 0)
		return read_stream(stdin, len);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *text = read_stream(f, len);
	fclose(f);
	return text;
}

/* The type names a schema file: letters, digits and '-' only, so no path can be built. */
static int type_valid(const char *type)
{
	if (!*type || strlen(type) > 64)
		return 0;
	for (const char *c = type; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			return 0;
	return 1;
}

static xmlRelaxNGPtr schema_load(const char *path)
{
	xmlRelaxNGParserCtxtPtr pctx = xmlRelaxNGNewParserCtxt(path);
	if (!pctx)
		return NULL;
	xmlRelaxNGPtr schema = xmlRelaxNGParse(pctx);
	xmlRelaxNGFreeParserCtxt(pctx);
	return schema;
}

static int validate(xmlRelaxNGPtr schema, const char *text, size_t len, const char *name)
{
	xmlDocPtr doc = xmlReadMemory(text, (int)len, name, NULL, XML_PARSE_NONET);
	if (!doc) {
		fprintf(stderr, "%s: not well-formed XML\n", name);
		return EXIT_INVALID;
	}
	xmlRelaxNGValidCtxtPtr vctx = xmlRelaxNGNewValidCtxt(schema);
	int r = vctx ? xmlRelaxNGValidateDoc(vctx, doc) : -1;
	xmlRelaxNGFreeValidCtxt(vctx);
	xmlFreeDoc(doc);
	if (r < 0)
		fprintf(stderr, "%s: the validator failed internally\n", name);
	return r == 0 ? 0 : EXIT_INVALID;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || !type_valid(argv[1])) {
		fprintf(stderr, "usage: rng-validate TYPE [FILE|-]  (TYPE: domain, nodedev, ...)\n");
		return EXIT_USAGE;
	}
	const char *dir = getenv("DEVPASS_RNG_DIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.rng", dir && *dir ? dir : "/usr/share/libvirt/schemas",
	         argv[1]);
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "%s: schema missing (%s)\n", path, strerror(errno));
		return EXIT_SKIP;
	}
	const char *input = argc == 3 ? argv[2] : "-";
	size_t len = 0;
	char *text = read_input(input, &len);
	if (!text || len > INT32_MAX) {
		fprintf(stderr, "%s: cannot read it\n", input);
		free(text);
		return EXIT_USAGE;
	}
	xmlRelaxNGPtr schema = schema_load(path);
	if (!schema) {
		fprintf(stderr, "%s: the schema does not load\n", path);
		free(text);
		return EXIT_SKIP;
	}
	int r = validate(schema, text, len, input);
	xmlRelaxNGFree(schema);
	free(text);
	xmlCleanupParser();
	return r;
}
