//! INFO's memory section: what each tier holds, the process's resident
//! set and the allocator's view, next to the budgets.

use super::ServerState;
use super::figure::Value;
use super::scripting::ScriptMemory;

/// The memory section: what each tier holds in RAM and the total, the
/// process's resident set, the budgets.
pub(super) fn memory_figures(
    shared: &ServerState,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::{Float, Int, Text};
    let store = &shared.store;
    let hot = store.weighted_size();
    let (warm, warm_max) = store
        .pool_stats()
        .map_or((0, 0), |p| (p.held_bytes, p.max_bytes));
    // The cold tier's RAM: its index and the records queued for its writer.
    let (cold_index, cold_queue) = store
        .cold_stats()
        .map_or((0, 0), |c| (c.index_bytes, c.queued_bytes));
    let total = hot + warm + cold_index + cold_queue;
    add("memory", "used_memory", Int(total));
    add(
        "memory",
        "used_memory_human",
        Text(crate::server::human_bytes(total)),
    );
    let rss = resident_bytes();
    if let Some(rss) = rss {
        add("memory", "used_memory_rss", Int(rss));
        add(
            "memory",
            "used_memory_rss_human",
            Text(crate::server::human_bytes(rss)),
        );
    }
    add("memory", "used_memory_hot", Int(hot));
    add("memory", "used_memory_warm", Int(warm));
    add("memory", "used_memory_cold_index", Int(cold_index));
    add("memory", "used_memory_cold_queue", Int(cold_queue));
    add("memory", "maxmemory", Int(store.max_capacity() + warm_max));
    add("memory", "maxmemory_hot", Int(store.max_capacity()));
    add("memory", "maxmemory_warm", Int(warm_max));
    add("memory", "maxmemory_bound", Int(store.bound()));
    if let Some(rss) = rss {
        // Redis's ratio: resident memory over what the tiers account for.
        add(
            "memory",
            "mem_fragmentation_ratio",
            Float(rss as f64 / total.max(1) as f64),
        );
    }
    script_figures(&shared.scripts.memory(), add);
    if let Some(a) = crate::allocator::stats() {
        add("memory", "mem_allocator", Text(a.name));
        add("memory", "allocator_allocated", Int(a.allocated));
        add("memory", "allocator_active", Int(a.active));
        add("memory", "allocator_resident", Int(a.resident));
        add(
            "memory",
            "allocator_frag_ratio",
            Float(a.active as f64 / a.allocated.max(1) as f64),
        );
    } else {
        add("memory", "mem_allocator", Text("libc".to_owned()));
    }
}

/// The scripting engine's memory, under Redis 7.0's names.
fn script_figures(m: &ScriptMemory, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Int, Text};
    let bytes = |n: usize| n as u64;
    add("memory", "used_memory_lua", Int(bytes(m.eval_vm_bytes)));
    add(
        "memory",
        "used_memory_lua_human",
        Text(crate::server::human_bytes(bytes(m.eval_vm_bytes))),
    );
    add("memory", "used_memory_vm_eval", Int(bytes(m.eval_vm_bytes)));
    add(
        "memory",
        "used_memory_scripts_eval",
        Int(bytes(m.eval_scripts_bytes)),
    );
    add(
        "memory",
        "number_of_cached_scripts",
        Int(bytes(m.cached_scripts)),
    );
    add("memory", "number_of_functions", Int(bytes(m.functions)));
    add("memory", "number_of_libraries", Int(bytes(m.libraries)));
    add(
        "memory",
        "used_memory_vm_functions",
        Int(bytes(m.function_vm_bytes)),
    );
    add(
        "memory",
        "used_memory_vm_total",
        Int(bytes(m.eval_vm_bytes + m.function_vm_bytes)),
    );
    add(
        "memory",
        "used_memory_functions",
        Int(bytes(m.functions_bytes)),
    );
    add(
        "memory",
        "used_memory_scripts",
        Int(bytes(m.eval_scripts_bytes + m.functions_bytes)),
    );
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status`
/// (Linux; `None` elsewhere).
pub(super) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib << 10)
}
