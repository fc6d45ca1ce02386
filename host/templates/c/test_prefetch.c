// Native unit test of policy.c: `cc -o test_policy test_policy.c && ./test_policy`.
#include "policy.c"

#include <stdio.h>

int main(void) {
    if (gx_init(100, 0, 0) != 0) return 1;
    uint64_t h1[] = {1, 2, 3, 1};
    uint8_t hits[] = {1, 1, 1, 0};
    gx_observe(h1, hits, 4);  // 1 missed; last time 2 followed it
    gx_proposals_begin(8);
    gx_propose_hashes(8);
    if (gx_proposals_len != 1 || gx_proposals[0] != 2) {
        printf("expected [2], got %u proposals\n", gx_proposals_len);
        return 1;
    }
    printf("ok\n");
    return 0;
}
