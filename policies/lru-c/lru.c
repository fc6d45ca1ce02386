// LRU for goldylox in C, over goldylox_policy.h: the header carries the
// canonical-ABI glue, this file only the algorithm.
//
// Semantics are those of the engine's native LRU (host tests check that both
// give the same victims): an insert that does not fit evicts from the tail
// until it fits and queues those victims for the next `evict`; an entry
// heavier than the whole capacity is queued at once; a queued victim written
// again or removed before the host took it is taken back; `evict` returns
// the queued victims first, then more from the tail until `need` is met.
#define GOLDYLOX_EVICTION_POLICY
#include "goldylox_policy.h"

enum { RESIDENT = 1, PENDING = 2 };

typedef struct {
    uint64_t hash;
    uint32_t prev, next;  // in the LRU list or the pending list
    uint32_t weight;
    uint8_t state;
} Node;

// Nodes 0 and 1 are the sentinels of the LRU list (head.next = most recent)
// and of the pending list (head.next = oldest queued victim).
#define LRU 0u
#define QUEUE 1u

static Node *nodes;
static uint32_t nodes_len, nodes_cap, free_head = GX_NONE;
static gx_index index_of;  // hash -> node
static uint64_t capacity, used;

static void link_front(uint32_t list, uint32_t i) {
    uint32_t first = nodes[list].next;
    nodes[i].prev = list;
    nodes[i].next = first;
    nodes[first].prev = i;
    nodes[list].next = i;
}

static void link_back(uint32_t list, uint32_t i) {
    uint32_t last = nodes[list].prev;
    nodes[i].next = list;
    nodes[i].prev = last;
    nodes[last].next = i;
    nodes[list].prev = i;
}

static void unlink_node(uint32_t i) {
    nodes[nodes[i].prev].next = nodes[i].next;
    nodes[nodes[i].next].prev = nodes[i].prev;
}

static uint32_t new_node(uint64_t hash) {
    uint32_t i;
    if (free_head != GX_NONE) {
        i = free_head;
        free_head = nodes[i].next;
    } else {
        if (nodes_len == nodes_cap) {
            nodes = gx_grow(nodes, nodes_len, nodes_cap * 2, sizeof(Node), 8);
            nodes_cap *= 2;
        }
        i = nodes_len++;
    }
    nodes[i].hash = hash;
    nodes[i].weight = 0;
    nodes[i].state = 0;
    gx_index_put(&index_of, hash, i);
    return i;
}

static void forget(uint32_t i) {
    gx_index_remove(&index_of, nodes[i].hash);
    nodes[i].state = 0;
    nodes[i].next = free_head;
    free_head = i;
}

// Moves the least recently used entry to the pending queue.
static bool queue_lru_tail(void) {
    uint32_t v = nodes[LRU].prev;
    if (v == LRU) return false;
    unlink_node(v);
    used -= nodes[v].weight;
    nodes[v].state = PENDING;
    link_back(QUEUE, v);
    return true;
}

static void admit_node(uint32_t i, uint32_t weight) {
    nodes[i].weight = weight;
    if ((uint64_t)weight > capacity) {
        nodes[i].state = PENDING;
        link_back(QUEUE, i);
        return;
    }
    while (used + weight > capacity && queue_lru_tail()) {
    }
    nodes[i].state = RESIDENT;
    link_front(LRU, i);
    used += weight;
}

static void on_write(uint64_t hash, uint32_t weight) {
    uint32_t i = gx_index_get(&index_of, hash);
    if (i == GX_NONE) {
        admit_node(new_node(hash), weight);
    } else if (nodes[i].state == PENDING) {
        // Written again before the host took it: take it back.
        unlink_node(i);
        admit_node(i, weight);
    } else {
        used = used - nodes[i].weight + weight;
        nodes[i].weight = weight;
        unlink_node(i);
        link_front(LRU, i);
        while (used > capacity && queue_lru_tail()) {
        }
    }
}

static void on_hit(uint64_t hash) {
    uint32_t i = gx_index_get(&index_of, hash);
    if (i != GX_NONE && nodes[i].state == RESIDENT) {
        unlink_node(i);
        link_front(LRU, i);
    }
}

static void on_remove(uint64_t hash) {
    uint32_t i = gx_index_get(&index_of, hash);
    if (i == GX_NONE) return;
    if (nodes[i].state == RESIDENT) used -= nodes[i].weight;
    unlink_node(i);
    forget(i);
}

const char *gx_init(uint64_t cap, const gx_param *params, size_t n) {
    (void)params;
    if (n != 0) return "lru-c takes no parameters";
    capacity = cap;
    used = 0;
    nodes_cap = 1024;
    nodes = gx_alloc((size_t)nodes_cap * sizeof(Node), 8);
    nodes_len = 2;
    nodes[LRU].next = nodes[LRU].prev = LRU;
    nodes[QUEUE].next = nodes[QUEUE].prev = QUEUE;
    gx_index_init(&index_of, 2048);
    return 0;
}

void gx_apply(const uint8_t *kinds, const uint64_t *hashes, const uint32_t *weights, size_t n) {
    for (size_t e = 0; e < n; e++) {
        switch (kinds[e]) {
            case GX_HIT: on_hit(hashes[e]); break;
            case GX_INSERT:
            case GX_UPDATE: on_write(hashes[e], weights[e]); break;
            case GX_REMOVE: on_remove(hashes[e]); break;
            default: break;  // unknown kinds are skipped, as the WIT says
        }
    }
}

void gx_evict(uint32_t max, uint64_t need) {
    (void)max;  // gx_propose says when it is reached
    uint64_t freed = 0;
    while (nodes[QUEUE].next != QUEUE) {
        uint32_t v = nodes[QUEUE].next;
        if (!gx_propose(nodes[v].hash)) return;
        unlink_node(v);
        freed += nodes[v].weight;
        forget(v);
    }
    while (freed < need && nodes[LRU].prev != LRU) {
        uint32_t v = nodes[LRU].prev;
        if (!gx_propose(nodes[v].hash)) return;
        unlink_node(v);
        used -= nodes[v].weight;
        freed += nodes[v].weight;
        forget(v);
    }
}

bool gx_admit(uint64_t candidate, uint64_t victim) {
    (void)candidate;
    (void)victim;
    return true;
}
