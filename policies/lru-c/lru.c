// world: eviction-policy
//
// LRU for goldylox, written in C against the canonical ABI of the
// `eviction-policy` world of wit/policy.wit — no libc, no bindings generator.
// host/build.rs compiles it with clang for wasm32 and embeds the WIT metadata
// with wit-component, which turns the module into a component.
//
// Semantics are those of the engine's native LRU (host tests check that both
// give the same hits on every trace): an insert that does not fit evicts from
// the tail until it fits and queues those victims for the next `evict`; an
// entry heavier than the whole capacity is queued at once; a queued victim
// written again or removed before the host took it is taken back; `evict`
// returns the queued victims first, then more from the tail until `need` is
// met.
//
// Canonical ABI, as the host calls these exports (wasm32):
//   init(capacity: i64, params: *{key_ptr, key_len, val_ptr, val_len}, n) -> *result
//   apply(kinds_ptr, kinds_len, hashes_ptr, hashes_len, weights_ptr, weights_len)
//   evict(max: i32, need: i64) -> *{list_ptr, list_len}
//   admit(candidate: i64, victim: i64) -> bool
//   cabi_realloc(old_ptr, old_size, align, new_size) -> ptr   (argument memory)

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long usize;

#define EXPORT(name) __attribute__((export_name(name)))
#define NIL 0xFFFFFFFFu
#define PAGE 65536u

enum { RESIDENT = 1, PENDING = 2 };
enum { HIT = 0, INSERT = 1, UPDATE = 2, REMOVE = 3 };

// ---------------------------------------------------------------- memory --

extern u8 __heap_base;
static usize heap_top;

// Bump allocation from the top of linear memory; never freed (tables and
// node arrays grow by doubling, so what is left behind is bounded by what is
// in use).
static void *arena_alloc(usize size, usize align) {
    if (heap_top == 0) heap_top = (usize)&__heap_base;
    usize p = (heap_top + align - 1) & ~(align - 1);
    usize end = p + size;
    usize have = __builtin_wasm_memory_size(0) * PAGE;
    if (end > have) {
        usize pages = (end - have + PAGE - 1) / PAGE;
        if (__builtin_wasm_memory_grow(0, pages) == (usize)-1) __builtin_trap();
    }
    heap_top = end;
    return (void *)p;
}

// Argument memory: the host allocates each call's lists here before the call;
// the call resets it when done, so it never grows past one call's arguments.
static u8 *scratch;
static usize scratch_cap, scratch_used;

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, usize old_size, usize align, usize new_size) {
    usize p = (scratch_used + align - 1) & ~(align - 1);
    if (scratch == 0 || p + new_size > scratch_cap) {
        usize cap = scratch_cap * 2;
        if (cap < 2 * new_size + 64) cap = 2 * new_size + 64;
        if (cap < 64 * 1024) cap = 64 * 1024;
        scratch = arena_alloc(cap, 16);
        scratch_cap = cap;
        p = 0;
    }
    scratch_used = p + new_size;
    u8 *out = scratch + p;
    if (old) __builtin_memcpy(out, old, old_size < new_size ? old_size : new_size);
    return out;
}

static void scratch_reset(void) { scratch_used = 0; }

// ----------------------------------------------------------------- state --

typedef struct {
    u64 hash;
    u32 prev, next;  // in the LRU list or the pending list
    u32 weight;
    u8 state;
} Node;

// Nodes 0 and 1 are the sentinels of the LRU list (head.next = most recent)
// and of the pending list (head.next = oldest queued victim).
#define LRU 0u
#define QUEUE 1u

static Node *nodes;
static u32 nodes_len, nodes_cap, free_head = NIL;
static u32 *slots;  // open addressing, linear probing: node index + 1, 0 = empty
static u32 slots_mask, tracked;
static u64 capacity, used;
static int ready;

static void link_front(u32 list, u32 i) {
    u32 first = nodes[list].next;
    nodes[i].prev = list;
    nodes[i].next = first;
    nodes[first].prev = i;
    nodes[list].next = i;
}

static void link_back(u32 list, u32 i) {
    u32 last = nodes[list].prev;
    nodes[i].next = list;
    nodes[i].prev = last;
    nodes[last].next = i;
    nodes[list].prev = i;
}

static void unlink_node(u32 i) {
    nodes[nodes[i].prev].next = nodes[i].next;
    nodes[nodes[i].next].prev = nodes[i].prev;
}

static u32 new_node(u64 hash) {
    u32 i;
    if (free_head != NIL) {
        i = free_head;
        free_head = nodes[i].next;
    } else {
        if (nodes_len == nodes_cap) {
            u32 cap = nodes_cap * 2;
            Node *grown = arena_alloc((usize)cap * sizeof(Node), 8);
            __builtin_memcpy(grown, nodes, (usize)nodes_len * sizeof(Node));
            nodes = grown;
            nodes_cap = cap;
        }
        i = nodes_len++;
    }
    nodes[i].hash = hash;
    nodes[i].weight = 0;
    nodes[i].state = 0;
    return i;
}

static void free_node(u32 i) {
    nodes[i].state = 0;
    nodes[i].next = free_head;
    free_head = i;
}

static u32 probe_start(u64 hash) { return (u32)(hash ^ (hash >> 32)) & slots_mask; }

static u32 find(u64 hash) {
    for (u32 s = probe_start(hash);; s = (s + 1) & slots_mask) {
        u32 v = slots[s];
        if (v == 0) return NIL;
        if (nodes[v - 1].hash == hash) return v - 1;
    }
}

static void put_slot(u32 i) {
    u32 s = probe_start(nodes[i].hash);
    while (slots[s] != 0) s = (s + 1) & slots_mask;
    slots[s] = i + 1;
}

static void grow_table(void) {
    u32 old_size = slots_mask + 1;
    u32 *old = slots;
    u32 size = old_size * 2;
    slots = arena_alloc((usize)size * 4, 4);
    __builtin_memset(slots, 0, (usize)size * 4);
    slots_mask = size - 1;
    for (u32 s = 0; s < old_size; s++)
        if (old[s] != 0) put_slot(old[s] - 1);
}

static void index_node(u32 i) {
    if ((tracked + 1) * 2 > slots_mask + 1) grow_table();
    put_slot(i);
    tracked++;
}

// Deletion with backward shift, so that probe chains stay unbroken.
static void unindex(u32 i) {
    u32 s = probe_start(nodes[i].hash);
    while (slots[s] != i + 1) s = (s + 1) & slots_mask;
    slots[s] = 0;
    for (u32 j = (s + 1) & slots_mask; slots[j] != 0; j = (j + 1) & slots_mask) {
        u32 home = probe_start(nodes[slots[j] - 1].hash);
        // Move the entry at j into the hole at s if s lies on its probe path.
        if (((j - home) & slots_mask) >= ((j - s) & slots_mask)) {
            slots[s] = slots[j];
            slots[j] = 0;
            s = j;
        }
    }
    tracked--;
}

// ------------------------------------------------------------------ LRU --

// Moves the least recently used entry to the pending queue.
static int queue_lru_tail(void) {
    u32 v = nodes[LRU].prev;
    if (v == LRU) return 0;
    unlink_node(v);
    used -= nodes[v].weight;
    nodes[v].state = PENDING;
    link_back(QUEUE, v);
    return 1;
}

static void admit_node(u32 i, u32 weight) {
    nodes[i].weight = weight;
    if ((u64)weight > capacity) {
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

static void on_write(u64 hash, u32 weight) {
    u32 i = find(hash);
    if (i == NIL) {
        i = new_node(hash);
        index_node(i);
        admit_node(i, weight);
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

static void on_hit(u64 hash) {
    u32 i = find(hash);
    if (i != NIL && nodes[i].state == RESIDENT) {
        unlink_node(i);
        link_front(LRU, i);
    }
}

static void on_remove(u64 hash) {
    u32 i = find(hash);
    if (i == NIL) return;
    if (nodes[i].state == RESIDENT) used -= nodes[i].weight;
    unlink_node(i);
    unindex(i);
    free_node(i);
}

// -------------------------------------------------------------- exports --

// Return areas: the host reads them right after the call returns.
static u32 result_area[3];
static u32 list_area[2];
static u64 *victims;
static u32 victims_cap;

static u32 set_error(const char *message) {
    u32 n = 0;
    while (message[n]) n++;
    ((u8 *)result_area)[0] = 1;
    result_area[1] = (u32)(usize)message;
    result_area[2] = n;
    return (u32)(usize)result_area;
}

EXPORT("init")
u32 init(u64 cap, u32 *params, u32 n_params) {
    scratch_reset();
    if (n_params != 0) {
        (void)params;
        return set_error("lru-c takes no parameters");
    }
    capacity = cap;
    used = 0;
    nodes_cap = 1024;
    nodes = arena_alloc((usize)nodes_cap * sizeof(Node), 8);
    nodes_len = 2;
    nodes[LRU].next = nodes[LRU].prev = LRU;
    nodes[QUEUE].next = nodes[QUEUE].prev = QUEUE;
    slots_mask = 2048 - 1;
    slots = arena_alloc(2048 * 4, 4);
    __builtin_memset(slots, 0, 2048 * 4);
    tracked = 0;
    ready = 1;
    ((u8 *)result_area)[0] = 0;
    return (u32)(usize)result_area;
}

EXPORT("apply")
void apply(const u8 *kinds, u32 n_kinds, const u64 *hashes, u32 n_hashes, const u32 *weights,
           u32 n_weights) {
    if (!ready) __builtin_trap();
    u32 n = n_kinds;
    if (n_hashes < n) n = n_hashes;
    if (n_weights < n) n = n_weights;
    for (u32 e = 0; e < n; e++) {
        switch (kinds[e]) {
            case HIT: on_hit(hashes[e]); break;
            case INSERT:
            case UPDATE: on_write(hashes[e], weights[e]); break;
            case REMOVE: on_remove(hashes[e]); break;
            default: break;  // unknown kinds are skipped, as the WIT says
        }
    }
    scratch_reset();
}

EXPORT("evict")
u32 evict(u32 max, u64 need) {
    if (!ready) __builtin_trap();
    // At most every tracked hash can be returned; grow by doubling so that
    // abandoned buffers stay bounded by the live one.
    u32 needed = max < tracked ? max : tracked;
    if (victims_cap < needed) {
        u32 cap = victims_cap * 2;
        if (cap < needed) cap = needed;
        if (cap < 256) cap = 256;
        victims = arena_alloc((usize)cap * 8, 8);
        victims_cap = cap;
    }
    u32 count = 0;
    u64 freed = 0;
    while (count < max && count < victims_cap && nodes[QUEUE].next != QUEUE) {
        u32 v = nodes[QUEUE].next;
        unlink_node(v);
        victims[count++] = nodes[v].hash;
        freed += nodes[v].weight;
        unindex(v);
        free_node(v);
    }
    while (count < max && count < victims_cap && freed < need && nodes[LRU].prev != LRU) {
        u32 v = nodes[LRU].prev;
        unlink_node(v);
        used -= nodes[v].weight;
        victims[count++] = nodes[v].hash;
        freed += nodes[v].weight;
        unindex(v);
        free_node(v);
    }
    list_area[0] = (u32)(usize)victims;
    list_area[1] = count;
    return (u32)(usize)list_area;
}

EXPORT("admit")
u32 admit(u64 candidate, u64 victim) {
    (void)candidate;
    (void)victim;
    return 1;
}
