/* named: a growing array of records keyed by an owned name (a malloc'd string in each
 * record), each with an owned string value, such as {project, identity} or {project,
 * reason}. Linear search: for the few dozen records of one member's Kylin link.
 *
 * The array is passed as the address of the caller's pointer to its records (struct T **,
 * read and written with memcpy), with the record size and the offsets of the two char *
 * fields (offsetof). Calls: libc only. */
#ifndef COMMON_NAMED_H
#define COMMON_NAMED_H

#include <stddef.h>

/* The record of the N records at *ARRAY whose name (the char * at NAME_OFF) equals NAME
 * (strcmp), or NULL. */
void *named_find(const void *array, size_t n, size_t size, size_t name_off, const char *name);

/* Sets the owned string at VALUE_OFF of NAME's record to a copy of VALUE (freeing the old
 * one), appending a zeroed record named with a copy of NAME when there is none. Returns the
 * record (valid until the array next grows or shrinks), or NULL when out of memory: then
 * nothing changed (the array may have been moved by a successful realloc). */
void *named_set(void *array, size_t *n, size_t size, size_t name_off, const char *name, size_t value_off,
                const char *value);

/* Drops NAME's record, if any: frees its name and its string at VALUE_OFF, and moves the
 * last record into its place (the order of records is not kept). */
void named_drop(void *array, size_t *n, size_t size, size_t name_off, size_t value_off, const char *name);

#endif
