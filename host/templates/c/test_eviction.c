// Native unit test of policy.c: `cc -o test_policy test_policy.c && ./test_policy`.
// It includes the policy itself, so it sees the same state the component has.
#include "policy.c"

#include <stdio.h>

static int failures;
#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                 \
        }                                                               \
    } while (0)

int main(void) {
    gx_param bad = {"max_freq", 8, "0", 1};
    CHECK(gx_init(2, &bad, 1) != 0);  // refused, by name

    CHECK(gx_init(2, 0, 0) == 0);
    uint8_t kinds[] = {GX_INSERT, GX_INSERT, GX_HIT, GX_INSERT};
    uint64_t hashes[] = {1, 2, 1, 3};
    uint32_t weights[] = {1, 1, 0, 1};
    gx_apply(kinds, hashes, weights, 4);
    // 1 was hit, so 2 (the oldest without a second chance) made room for 3.
    gx_proposals_begin(8);
    gx_evict(8, 0);
    CHECK(gx_proposals_len == 1 && gx_proposals[0] == 2);

    if (failures == 0) printf("ok\n");
    return failures != 0;
}
