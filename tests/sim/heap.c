/* heap: the address-hostile raft heap of sim --repeat (sim.h).
 *
 * A run must not depend on where things are in memory, but a dependence on an address shows
 * only when that address takes a particular value: libraft 0.22.1's follower read byte 1 of
 * its leader's address pointer as a flag (raft_fix.h, sixth bug), which differed only when
 * that byte happened to be 0 (about 1 run in 16 with ASLR, for one build's heap layout, and
 * never for another). So the repeats of --repeat do not wait for luck: run K >= 1 gives every
 * small block libraft allocates (raft_malloc and friends: leader addresses, configuration
 * addresses, small messages and entries) an address whose byte 1 is a chosen value (0x00,
 * 0x01, 0xff, 0x80, then others), and byte 0 varies with the slot. Larger blocks come from
 * malloc as usual. Run 0 keeps the default heap.
 *
 * Small blocks live in slots of SLOT bytes inside a 256-byte window of 64 KiB-aligned blocks
 * (window offset = the chosen byte << 8), carved from 4 MiB chunks (only the touched pages
 * are committed) and recycled through a free list. Installed with raft_heap_set before the
 * fixture exists and removed after it is closed (a block from one heap must not be freed by
 * the other). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define HEAP_BLOCK 65536u
#define HEAP_CHUNK (64u * HEAP_BLOCK)
#define HEAP_SLOT 64u
#define HEAP_SLOTS_PER_BLOCK (256u / HEAP_SLOT)
#define HEAP_MAX_CHUNKS 256

static struct hostile {
    unsigned byte1;            /* byte 1 of every small block's address */
    unsigned char *chunks[HEAP_MAX_CHUNKS];
    unsigned n_chunks;
    size_t next_slot;          /* slots carved so far from the last chunk */
    void *free_list;           /* freed slots (the first word links them) */
    struct raft_heap heap;
} hostile;

static bool is_slot(const void *p)
{
    const unsigned char *b = p;
    for (unsigned i = 0; i < hostile.n_chunks; i++) {
        if (b >= hostile.chunks[i] && b < hostile.chunks[i] + HEAP_CHUNK) {
            return true;
        }
    }
    return false;
}

static void *slot_get(void)
{
    if (hostile.free_list != NULL) {
        void *p = hostile.free_list;
        memcpy(&hostile.free_list, p, sizeof(void *));
        return p;
    }
    const size_t per_chunk = (HEAP_CHUNK / HEAP_BLOCK) * HEAP_SLOTS_PER_BLOCK;
    if (hostile.n_chunks == 0 || hostile.next_slot == per_chunk) {
        if (hostile.n_chunks == HEAP_MAX_CHUNKS) {
            return NULL;
        }
        unsigned char *c = aligned_alloc(HEAP_BLOCK, HEAP_CHUNK);
        if (c == NULL) {
            return NULL;
        }
        hostile.chunks[hostile.n_chunks++] = c;
        hostile.next_slot = 0;
    }
    size_t k = hostile.next_slot++;
    unsigned char *block = hostile.chunks[hostile.n_chunks - 1] + (k / HEAP_SLOTS_PER_BLOCK) * HEAP_BLOCK;
    return block + ((size_t)hostile.byte1 << 8) + (k % HEAP_SLOTS_PER_BLOCK) * HEAP_SLOT;
}

static void *h_malloc(void *data, size_t size)
{
    (void)data;
    return size <= HEAP_SLOT ? slot_get() : malloc(size);
}

static void h_free(void *data, void *ptr)
{
    (void)data;
    if (ptr != NULL && is_slot(ptr)) {
        memcpy(ptr, &hostile.free_list, sizeof(void *));
        hostile.free_list = ptr;
    } else {
        free(ptr);
    }
}

static void *h_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    if (nmemb * size > HEAP_SLOT) {
        return calloc(nmemb, size);
    }
    void *p = slot_get();
    if (p != NULL) {
        memset(p, 0, HEAP_SLOT);
    }
    return p;
}

static void *h_realloc(void *data, void *ptr, size_t size)
{
    if (ptr == NULL) {
        return h_malloc(data, size);
    }
    if (!is_slot(ptr)) {
        return realloc(ptr, size);
    }
    if (size <= HEAP_SLOT) {
        return ptr;
    }
    void *p = malloc(size);
    if (p != NULL) {
        memcpy(p, ptr, HEAP_SLOT);
        h_free(data, ptr);
    }
    return p;
}

static void *h_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

static void h_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

void heap_hostile_set(unsigned k)
{
    static const unsigned first[] = {0x00, 0x01, 0xff, 0x80};
    if (k == 0) {
        return;
    }
    memset(&hostile, 0, sizeof hostile);
    hostile.byte1 = k <= 4 ? first[k - 1] : (k * 37u) & 0xffu;
    hostile.heap = (struct raft_heap){.malloc = h_malloc,
                                      .free = h_free,
                                      .calloc = h_calloc,
                                      .realloc = h_realloc,
                                      .aligned_alloc = h_aligned_alloc,
                                      .aligned_free = h_aligned_free};
    raft_heap_set(&hostile.heap);
}

void heap_hostile_unset(unsigned k)
{
    if (k == 0) {
        return;
    }
    raft_heap_set_default();
    for (unsigned i = 0; i < hostile.n_chunks; i++) {
        free(hostile.chunks[i]);
    }
    memset(&hostile, 0, sizeof hostile);
}
