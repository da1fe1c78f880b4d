/* util — error reporting, checked allocation, memory-mapped files and timing.
 *
 * Error convention used across carve: a function that can fail returns an int
 * (0 = success, -1 = failure) or a NULL pointer, after calling err_set() with a
 * one-line message that names the file and the problem. The CLI prints err_get()
 * as "carve: <message>" and exits with status 2. Messages are per thread. */
#ifndef CARVE_UTIL_H
#define CARVE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Record a one-line error message (printf-style) and return -1. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message recorded on this thread ("" when none). */
const char *err_get(void);
/* Prefix the current message: "<prefix>: <old message>". Returns -1. */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL: on failure prints a message and exits(3). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* 64-byte aligned allocation (free with free()); exits on failure. */
void *xmalloc_aligned(size_t n);
/* What the x*alloc functions do when n bytes cannot be had: one line on stderr, exit(3).
 * For other allocators (mmap) that must fail the same way. */
_Noreturn void die_oom(size_t n);

/* A read-only memory-mapped file. An empty file maps to data == NULL, size == 0. */
typedef struct {
    char *path;
    const uint8_t *data;
    size_t size;
} MappedFile;

int  mapped_open(MappedFile *f, const char *path);
void mapped_close(MappedFile *f);

/* Read a whole file into a NUL-terminated heap buffer; *len gets the size (may be NULL). */
char *read_file(const char *path, size_t *len);
/* Write buf to path atomically: write "<path>.tmp.<pid>", fsync, rename. */
int write_file_atomic(const char *path, const void *buf, size_t len);

bool path_is_dir(const char *path);
bool path_exists(const char *path);
/* "<dir>/<name>" in a new heap string. */
char *path_join(const char *dir, const char *name);

/* Monotonic wall clock in seconds. */
double now_seconds(void);
/* Peak resident set size of this process in bytes (from getrusage). */
size_t peak_rss_bytes(void);
/* The memory carve plans large allocations against, in bytes: $CARVE_MEMORY_MB when set to a
 * positive number, else the machine's physical memory (0 when unknown). */
size_t memory_budget_bytes(void);

/* FNV-1a 64-bit hash, chainable: pass the previous hash as seed (start with FNV64_INIT). */
#define FNV64_INIT 0xcbf29ce484222325ULL
uint64_t fnv1a64(uint64_t seed, const void *data, size_t len);

#endif
