// {{name}}: a failover policy for goldylox, in C.
//
// It starts as a circuit breaker per tier: `errors` failures in a row open
// it (bypass the tier); after `backoff_ms` it sends a probe; a good probe
// restores the tier, a failed one doubles the backoff. Change it into your
// own rule.
//
// Build: `goldylox policy build`. Test: `cc -o test_policy test_policy.c && ./test_policy`.
#define GOLDYLOX_FAILOVER_POLICY
#include "goldylox_policy.h"

typedef struct {
    uint32_t failures;
    bool open, probe_ok;
    uint64_t backoff_ms, retry_at;
} Tier;

static Tier tiers[3];
static uint64_t errors = 5, backoff_ms = 100;

const char *gx_init(const gx_param *params, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (gx_param_is(&params[i], "errors")) {
            if (!gx_param_u64(&params[i], &errors) || errors == 0) return "errors must be >= 1";
        } else if (gx_param_is(&params[i], "backoff_ms")) {
            if (!gx_param_u64(&params[i], &backoff_ms)) return "backoff_ms must be an integer";
        } else {
            return "unknown parameter (this policy takes errors and backoff_ms)";
        }
    }
    return 0;
}

void gx_observe(const uint8_t *tier_of, const uint8_t *kinds, const uint64_t *at_ms, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (tier_of[i] > GX_TIER_COLD) continue;
        Tier *t = &tiers[tier_of[i]];
        switch (kinds[i]) {
            case GX_HEALTH_SUCCESS: t->failures = 0; break;
            case GX_HEALTH_ERROR:
            case GX_HEALTH_TIMEOUT:
                if (++t->failures >= errors && !t->open) {
                    t->open = true;
                    t->backoff_ms = backoff_ms;
                    t->retry_at = at_ms[i] + backoff_ms;
                }
                break;
            case GX_HEALTH_PROBE_OK: t->probe_ok = true; break;
            case GX_HEALTH_PROBE_FAILED:
                t->backoff_ms = t->backoff_ms * 2 > 60000 ? 60000 : t->backoff_ms * 2;
                t->retry_at = at_ms[i] + t->backoff_ms;
                break;
            default: break;
        }
    }
}

gx_decision gx_decide(uint8_t tier, uint64_t now_ms) {
    if (tier > GX_TIER_COLD) return (gx_decision){GX_KEEP, 1000};
    Tier *t = &tiers[tier];
    if (!t->open) return (gx_decision){GX_KEEP, 1000};
    if (t->probe_ok) {
        *t = (Tier){0};
        return (gx_decision){GX_RESTORE, 1000};
    }
    uint64_t wait = t->retry_at > now_ms ? t->retry_at - now_ms : 1;
    return (gx_decision){now_ms >= t->retry_at ? GX_PROBE : GX_BYPASS, (uint32_t)wait};
}
