/* The cloud-init NoCloud seed: an ISO 9660 volume labelled "cidata" holding meta-data and
 * user-data (cloud-init's NoCloud data source; vm-lifecycle.md §3). Built in memory with
 * libisofs, no external program, and written through fs/ in one atomic replacement. */
#include <stdint.h>
#include <sys/types.h>
#define LIBISOFS_WITHOUT_LIBBURN
#include <libisofs/libisofs.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define SEED_VOLUME "cidata"
#define ISO_BLOCK 2048
#define SEED_MAX (64u << 20)   /* user-data beyond this is no cloud-config */

DEFINE_CLEANUP_PTR(IsoImage, iso_image_unref, iso_image_unrefp)
DEFINE_CLEANUP_PTR(IsoWriteOpts, iso_write_opts_free, iso_write_opts_freep)

static int iso_failed(int code, const char *dest, const char *what)
{
	return dp_error_set(code == (int)ISO_OUT_OF_MEM ? -ENOMEM : -EIO,
	                    "cannot build cloud-init seed %s: %s: %s", dest, what,
	                    iso_error_to_msg(code));
}

/* One file of the seed, its content copied into a stream the image owns. */
static int seed_add(IsoImage *img, const char *name, const char *text, const char *dest)
{
	size_t len = strlen(text);
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy)
		return dp_oom();
	memcpy(copy, text, len);
	IsoStream *st = NULL;
	int r = iso_memory_stream_new(copy, len, &st);   /* owns copy from here, even on failure */
	if (r < 0)
		return iso_failed(r, dest, name);
	r = iso_image_add_new_file(img, iso_image_get_root(img), name, st, NULL);
	if (r < 0) {
		iso_stream_unref(st);
		return iso_failed(r, dest, name);
	}
	return 0;
}

/* Reads the image the writer thread produces, block by block, into memory. */
static int seed_collect(struct burn_source *bs, unsigned char **out, size_t *len)
{
	size_t cap = 64 * ISO_BLOCK, used = 0;
	_cleanup_free_ unsigned char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used + ISO_BLOCK > cap) {
			if (cap >= SEED_MAX)
				return -EFBIG;
			unsigned char *grown = realloc(buf, cap * 2);
			if (!grown)
				return -ENOMEM;
			buf = grown;
			cap *= 2;
		}
		int n = bs->read_xt(bs, buf + used, ISO_BLOCK);
		if (n < 0)
			return -EIO;
		if (n == 0)
			break;
		used += (size_t)n;
		if (n < ISO_BLOCK)
			break;
	}
	*out = TAKE_PTR(buf);
	*len = used;
	return 0;
}

static int seed_render(IsoImage *img, const char *dest, unsigned char **out, size_t *len)
{
	_cleanup_(iso_write_opts_freep) IsoWriteOpts *opts = NULL;
	int r = iso_write_opts_new(&opts, 2);   /* profile 2: Rock Ridge and Joliet */
	if (r < 0)
		return iso_failed(r, dest, "options");
	struct burn_source *bs = NULL;
	if ((r = iso_image_create_burn_source(img, opts, &bs)) < 0)
		return iso_failed(r, dest, "writer");
	r = seed_collect(bs, out, len);
	/* freeing the source stops the writer thread, also when it was read only in part */
	bs->free_data(bs);
	free(bs);
	if (r < 0)
		return dp_error_set(r, "cannot build cloud-init seed %s: %s", dest,
		                    r == -EFBIG ? "too large" : strerror(-r));
	return 0;
}

static int seed_build(const char *dest, const char *user_data, const char *meta_data,
                      unsigned char **out, size_t *len)
{
	_cleanup_(iso_image_unrefp) IsoImage *img = NULL;
	/* the name is the volume id: "CIDATA" in the ISO 9660 descriptor, "cidata" in Joliet;
	 * cloud-init accepts either */
	int r = iso_image_new(SEED_VOLUME, &img);
	if (r < 0)
		return iso_failed(r, dest, "image");
	if ((r = seed_add(img, "meta-data", meta_data, dest)) < 0 ||
	    (r = seed_add(img, "user-data", user_data, dest)) < 0)
		return r;
	return seed_render(img, dest, out, len);
}

/* The seed is 0600: user-data may carry secrets (passwords, tokens). */
int dp_vm_seed_write(const char *dest, const char *user_data, const char *meta_data)
{
	if (!user_data || !meta_data)
		return dp_error_set(-EINVAL, "cloud-init seed %s needs both user-data and meta-data",
		                    dest);
	int r = iso_init();
	if (r < 0)
		return iso_failed(r, dest, "library");
	/* libisofs reports problems through its return codes; keep its own printing quiet */
	iso_set_msgs_severities("NEVER", "NEVER", "devpass");
	_cleanup_free_ unsigned char *iso = NULL;
	size_t len = 0;
	r = seed_build(dest, user_data, meta_data, &iso, &len);
	iso_finish();
	if (r < 0)
		return r;
	if ((r = dp_fs_write_file(dest, (const char *)iso, len, 0600)) < 0)
		return dp_error_set(r, "cannot write cloud-init seed %s: %s", dest, strerror(-r));
	return 0;
}
