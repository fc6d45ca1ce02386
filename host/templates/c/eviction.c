// {{name}}: an eviction policy for goldylox, in C.
//
// It starts as CLOCK (FIFO with second chances): a hit raises an entry's
// counter up to `max_freq`; the oldest entry leaves unless its counter is
// set, in which case the counter drops by one and the entry goes back to
// the head. goldylox_policy.h carries the component glue; this file is only
// the algorithm, over plain arrays. Change it into your own.
//
// Build: `goldylox policy build`. Test: `cc -o test_policy test_policy.c && ./test_policy`.
#define GOLDYLOX_EVICTION_POLICY
#include "goldylox_policy.h"

typedef struct {
    uint64_t hash;
    uint32_t weight;
    uint8_t freq;
    uint8_t live;  // 0: a hole left by a remove or an eviction
} Entry;

// The FIFO is a ring of entries; `index` maps a hash to its slot.
static Entry *ring;
static uint32_t ring_cap, head, len;  // slots head .. head+len-1 (mod ring_cap)
static gx_index index;
static uint64_t capacity, used;
static uint8_t max_freq = 1;

// Victims chosen while applying inserts, returned by the next evict.
// `queued` maps a hash to its position in `pending`; an entry whose hash no
// longer maps to its position was taken back.
typedef struct {
    uint64_t hash;
    uint64_t weight;
} Victim;
static Victim *pending;
static uint32_t pending_len, pending_cap;
static gx_index queued;

static void queue_victim(uint64_t hash, uint64_t weight) {
    if (pending_len == pending_cap) {
        pending_cap = pending_cap ? pending_cap * 2 : 64;
        pending = gx_grow(pending, pending_len, pending_cap, sizeof(Victim), 8);
    }
    gx_index_put(&queued, hash, pending_len);
    pending[pending_len++] = (Victim){hash, weight};
}

// A victim written again or removed before the host took it is taken back.
static void cancel_victim(uint64_t hash) { gx_index_remove(&queued, hash); }

static void push_back(uint64_t hash, uint32_t weight, uint8_t freq) {
    if (len == ring_cap) {  // grow: unroll the ring into a twice larger one
        Entry *grown = gx_alloc((size_t)ring_cap * 2 * sizeof(Entry), 8);
        for (uint32_t i = 0; i < len; i++) grown[i] = ring[(head + i) % ring_cap];
        ring = grown;
        ring_cap *= 2;
        head = 0;
        for (uint32_t i = 0; i < len; i++)
            if (ring[i].live) gx_index_put(&index, ring[i].hash, i);
    }
    uint32_t slot = (head + len++) % ring_cap;
    ring[slot] = (Entry){hash, weight, freq, 1};
    gx_index_put(&index, hash, slot);
}

// Takes the next victim off the FIFO; false when it is empty.
static bool evict_one(uint64_t *hash, uint32_t *weight) {
    while (len > 0) {
        Entry e = ring[head];
        head = (head + 1) % ring_cap;
        len--;
        if (!e.live) continue;
        if (e.freq > 0) {  // second chance
            push_back(e.hash, e.weight, e.freq - 1);
            continue;
        }
        gx_index_remove(&index, e.hash);
        used -= e.weight;
        *hash = e.hash;
        *weight = e.weight;
        return true;
    }
    return false;
}

static void make_room(uint64_t incoming) {
    uint64_t h;
    uint32_t w;
    while (used + incoming > capacity && evict_one(&h, &w)) queue_victim(h, w);
}

const char *gx_init(uint64_t cap, const gx_param *params, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (gx_param_is(&params[i], "max_freq")) {
            if (!gx_param_u64(&params[i], &v) || v < 1 || v > 255)
                return "max_freq must be an integer in 1..=255";
            max_freq = (uint8_t)v;
        } else {
            return "unknown parameter (this policy takes max_freq)";
        }
    }
    capacity = cap;
    ring_cap = 1024;
    ring = gx_alloc((size_t)ring_cap * sizeof(Entry), 8);
    gx_index_init(&index, 2048);
    gx_index_init(&queued, 64);
    return 0;  // no error
}

void gx_apply(const uint8_t *kinds, const uint64_t *hashes, const uint32_t *weights, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hashes[i];
        uint32_t slot = gx_index_get(&index, h);
        switch (kinds[i]) {
            case GX_HIT:
                if (slot != GX_NONE && ring[slot].freq < max_freq) ring[slot].freq++;
                break;
            case GX_INSERT:
            case GX_UPDATE:
                cancel_victim(h);
                if (slot != GX_NONE) {  // an update: new weight, and an access
                    used = used - ring[slot].weight + weights[i];
                    ring[slot].weight = weights[i];
                    if (ring[slot].freq < max_freq) ring[slot].freq++;
                    make_room(0);
                } else if (weights[i] > capacity) {
                    queue_victim(h, weights[i]);  // heavier than the whole tier
                } else {
                    make_room(weights[i]);
                    push_back(h, weights[i], 0);
                    used += weights[i];
                }
                break;
            case GX_REMOVE:
                cancel_victim(h);
                if (slot != GX_NONE) {
                    ring[slot].live = 0;
                    used -= ring[slot].weight;
                    gx_index_remove(&index, h);
                }
                break;
            default:
                break;  // unknown kinds are skipped
        }
    }
}

void gx_evict(uint32_t max, uint64_t need) {
    (void)max;  // gx_propose returns false once max victims are proposed
    uint64_t freed = 0;
    uint32_t taken = 0;
    for (; taken < pending_len; taken++) {
        Victim v = pending[taken];
        if (gx_index_get(&queued, v.hash) != taken) continue;  // taken back
        if (!gx_propose(v.hash)) break;                         // max reached
        gx_index_remove(&queued, v.hash);
        freed += v.weight;
    }
    // Keep what is left (re-indexed at its new position).
    uint32_t left = 0;
    for (uint32_t i = taken; i < pending_len; i++) {
        if (gx_index_get(&queued, pending[i].hash) != i) continue;
        pending[left] = pending[i];
        gx_index_put(&queued, pending[i].hash, left++);
    }
    pending_len = left;
    if (pending_len > 0) return;  // max reached
    uint64_t h;
    uint32_t w;
    while (freed < need && evict_one(&h, &w)) {
        if (!gx_propose(h)) {
            queue_victim(h, w);  // max reached: it goes first next time
            return;
        }
        freed += w;
    }
}

bool gx_admit(uint64_t candidate, uint64_t victim) {
    (void)candidate;
    (void)victim;
    return true;
}
