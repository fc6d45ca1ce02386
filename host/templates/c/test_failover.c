// Native unit test of policy.c: `cc -o test_policy test_policy.c && ./test_policy`.
#include "policy.c"

#include <stdio.h>

int main(void) {
    gx_param p = {"errors", 6, "2", 1};
    if (gx_init(&p, 1) != 0) return 1;
    uint8_t t[] = {GX_TIER_COLD, GX_TIER_COLD};
    uint8_t k[] = {GX_HEALTH_ERROR, GX_HEALTH_ERROR};
    uint64_t at[] = {10, 11};
    gx_observe(t, k, at, 2);
    int ok = gx_decide(GX_TIER_COLD, 12).action == GX_BYPASS &&
             gx_decide(GX_TIER_COLD, 200).action == GX_PROBE;
    uint8_t k2[] = {GX_HEALTH_PROBE_OK};
    gx_observe(t, k2, at, 1);
    ok = ok && gx_decide(GX_TIER_COLD, 202).action == GX_RESTORE &&
         gx_decide(GX_TIER_COLD, 203).action == GX_KEEP;
    printf(ok ? "ok\n" : "failed\n");
    return !ok;
}
