//! Redis's encoding thresholds, which `CONFIG SET` accepts and `CONFIG
//! GET` reports.

/// Redis's encoding thresholds. Goldylox keeps one encoding per type, so
/// these change nothing; `CONFIG SET` accepts them (clients and Redis's own
/// tests set them) and `CONFIG GET` reports what was set. The `ziplist`
/// spellings are Redis's aliases of the `listpack` ones.
pub(super) const KNOBS: [&str; 14] = [
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "list-compress-depth",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
];

/// Redis's defaults for [`KNOBS`], by their `listpack` names.
pub(super) fn defaults() -> std::collections::BTreeMap<String, String> {
    [
        ("hash-max-listpack-entries", "128"),
        ("hash-max-listpack-value", "64"),
        ("list-max-listpack-size", "-2"),
        ("list-compress-depth", "0"),
        ("set-max-intset-entries", "512"),
        ("set-max-listpack-entries", "128"),
        ("set-max-listpack-value", "64"),
        ("zset-max-listpack-entries", "128"),
        ("zset-max-listpack-value", "64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
