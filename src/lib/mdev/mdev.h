/* Internal to the mdev unit: names, the NVIDIA VF layout, the definitions' database. */
#ifndef DP_MDEV_H
#define DP_MDEV_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "devpass.h"

#define MDEV_BUS "sys/class/mdev_bus"
#define MDEV_DEVICES "sys/bus/mdev/devices"
#define PCI_DEVICES "sys/bus/pci/devices"

/* 0 when name is one path component that fits max-1 bytes; else -EINVAL, said with
 * what ("parent", "type", ...) as the parameter it is about. */
int mdev_name_check(const char *what, const char *name, size_t max);
/* Whether parent is a VF in NVIDIA's VF vGPU layout (and not an mdev_bus parent). */
bool mdev_vf_layout(const char *parent);
/* The vGPU type id now on such a VF (0: none); -errno when unreadable. */
int mdev_vf_current(const char *vf, unsigned *id);
/* "nvidia-1145" -> 1145; -EINVAL for anything else. */
int mdev_vf_type_id(const char *type, unsigned *id);
/* The types of one VF-layout parent appended to out. */
int mdev_vf_types_read(const char *vf, struct dp_mdev_type_list *out);
int mdev_vf_create(const char *vf, const char *type, char uuid_out[37]);
int mdev_vf_remove(const char *vf, int timeout_ms);
/* Every VF-layout parent, sorted by address. */
int mdev_vf_parents(struct dp_strv *out);

/* A new random (version 4) uuid, lower case. */
int mdev_uuid_new(char out[37]);
/* The uuid in lower case (the kernel names devices so); -EINVAL if malformed. */
int mdev_uuid_normalize(const char *text, char out[37]);

/* Writes the definition's attributes (JSON array of one-key objects) to the active
 * device, in order. */
int mdev_attrs_apply(const char *uuid, const char *attrs_json);
/* Opens the state database for definitions: *db NULL (and 0) when reading a database
 * without them yet. */
int mdev_db_open(bool write, sqlite3 **db, int *dirfd);
void mdev_db_close(sqlite3 *db, int dirfd);
/* Stores one definition; -EEXIST (said) when its uuid is defined already. */
int mdev_def_store(const struct dp_mdev_def *d);

#endif
