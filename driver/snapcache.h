/* snapcache.h - the snapshot cache's parts below the machine (snapcache.c,
 * sha256.c), private to driver/ and its unit tests (test_snapcache.c).
 *
 * The cache is a directory of entries, each named by its key (32 hex
 * digits): KEY/ holds microvm's snapshot (state, memory, disk-N.cow), the
 * console log up to the snapshot (console.log) and the text the key hashes
 * (inputs). KEY.lock is its lock file: a run that restores from KEY holds
 * a shared lock on it while its node runs, the run that writes KEY an
 * exclusive one, and so does eviction; nobody waits for a lock. An entry
 * is written as KEY.tmp-PID and renamed to KEY when complete, so a name
 * KEY is always a whole snapshot. An entry's mtime is when it was last
 * used; eviction removes the least recently used first.
 */
#ifndef DRIVER_SNAPCACHE_H
#define DRIVER_SNAPCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

#define SNAP_KEY_LEN 32

void sha256(const void *data, size_t n, unsigned char out[32]);

/* The text a node's key hashes: one line per input (the microvm binary,
 * kernel, initrd and disks by identity: path, size, mtime, inode; the
 * command line, memory, cpus, disks' modes, shares by tag, path and mode,
 * networks); nothing about the run (its directory, the node's name). */
void snap_inputs(const struct machine *m, struct buf *out);
/* The key of an inputs text: the first 128 bits of its SHA-256, in hex. */
void snap_key_of(const char *inputs, char key[SNAP_KEY_LEN + 1]);

/* Lock dir/KEY.lock, shared or exclusive, without waiting: the fd (close
 * it to unlock), -EWOULDBLOCK when another run holds it, or -errno. */
int cache_lock(const char *dir, const char *key, bool exclusive);
/* Rename the finished staging directory to dir/KEY: 0, or -EEXIST when
 * another run's entry got there first (staging is then removed). */
int cache_commit(const char *dir, const char *staging, const char *key);
/* Remove dir/KEY (its lock held by the caller) and its lock file. */
int cache_remove(const char *dir, const char *key);
/* Mark dir/KEY as used now. */
void cache_touch(const char *dir, const char *key);
/* Bytes allocated (blocks, not apparent size) under dir/KEY. */
unsigned long long cache_entry_size(const char *dir, const char *key);
/* Remove least recently used entries (not keep, none in use) until dir's
 * entries take at most max bytes; also staging directories of runs that
 * are gone. Returns how many entries were removed. */
int cache_evict(const char *dir, unsigned long long max, const char *keep);

#endif
