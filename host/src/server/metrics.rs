//! The Prometheus text endpoint: `GET /metrics` returns every numeric figure
//! of `INFO` as `goldylox_<section>_<name>` (off unless `[metrics]` is
//! configured). A deliberately small HTTP/1.1 responder: one request per
//! connection, bounded request size, no keep-alive.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::ServerState;
use super::info::{Value, figures};

/// Largest request head read from a scraper.
const MAX_REQUEST: usize = 8 << 10;
/// A scraper that sends nothing for this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The exposition text.
pub(super) fn render(shared: &ServerState) -> String {
    let mut text = String::new();
    for f in figures(shared) {
        let value = match f.value {
            Value::Int(n) => n.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Text(_) => continue,
        };
        let name = format!("goldylox_{}_{}", f.section, f.name);
        text.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    text
}

pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<ServerState>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
                match tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let (status, body) = if head.starts_with(b"GET /metrics ") {
                ("200 OK", render(&shared))
            } else {
                ("404 Not Found", "try GET /metrics\n".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
