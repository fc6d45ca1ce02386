//! A figure `INFO`, `MEMORY STATS` and the metrics endpoint report.

/// A figure's value: numbers are also exported to Prometheus.
#[derive(Debug, Clone)]
pub enum Value {
    /// A count or a size.
    Int(u64),
    /// A ratio or a percentage.
    Float(f64),
    /// A name or a human-readable size.
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x:.4}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}
