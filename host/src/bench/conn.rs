//! A blocking Redis-protocol connection for the bench, plain or TLS:
//! pipelined GETs and SETs written in one batch and their replies read in
//! order, and INFO. Any server that speaks RESP2 answers it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls::pki_types::ServerName;

/// How long a reply may take before the bench gives up on the server.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The buffer a connection reads replies through.
const READ_BUFFER: usize = 256 * 1024;

/// A byte stream to a server: TCP, or TLS over TCP.
trait Stream: Read + Write + Send {}
impl<S: Read + Write + Send> Stream for S {}

/// How to reach a server over TLS: the CA that signed its certificate,
/// and the name to check it against.
#[derive(Clone)]
pub(super) struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// Trusts the certificates in the PEM file `ca`; checks the server's
    /// certificate against `host` (a DNS name or an IP address).
    pub(super) fn new(ca: &Path, host: &str) -> Result<Tls> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in crate::server::tls::certificates(ca)? {
            roots
                .add(cert)
                .with_context(|| format!("--tls-ca {}", ca.display()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned())
            .with_context(|| format!("{host:?} is not a server name for TLS"))?;
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }
}

/// One connection.
pub(super) struct Conn {
    /// Commands queued, sent by [`Conn::flush`] in one write.
    out: Vec<u8>,
    stream: BufReader<Box<dyn Stream>>,
}

impl Conn {
    /// Connects to `addr` (over `tls` if given), authenticating with
    /// `password` if given.
    pub(super) fn open(addr: &str, tls: Option<&Tls>, password: Option<&str>) -> Result<Conn> {
        let tcp = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let stream: Box<dyn Stream> = match tls {
            Some(tls) => {
                let session =
                    rustls::ClientConnection::new(Arc::clone(&tls.config), tls.name.clone())
                        .context("starting TLS")?;
                Box::new(rustls::StreamOwned::new(session, tcp))
            }
            None => Box::new(tcp),
        };
        let mut conn = Conn {
            out: Vec::with_capacity(64 * 1024),
            stream: BufReader::with_capacity(READ_BUFFER, stream),
        };
        if let Some(password) = password {
            conn.command(&[b"AUTH", password.as_bytes()]);
            conn.flush()?;
            conn.simple().context("AUTH")?;
        }
        Ok(conn)
    }

    /// Queues one command (sent by [`Conn::flush`]).
    pub(super) fn command(&mut self, args: &[&[u8]]) {
        let out = &mut self.out;
        out.push(b'*');
        out.extend_from_slice(args.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        for arg in args {
            out.push(b'$');
            out.extend_from_slice(arg.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends what is queued.
    pub(super) fn flush(&mut self) -> Result<()> {
        let stream = self.stream.get_mut();
        stream
            .write_all(&self.out)
            .and_then(|()| stream.flush())
            .context("sending to the server")?;
        self.out.clear();
        Ok(())
    }

    /// Reads a bulk reply into `into`: `false` for nil (a miss).
    pub(super) fn bulk(&mut self, into: &mut Vec<u8>) -> Result<bool> {
        let line = self.line()?;
        match line.as_bytes().first() {
            Some(b'$') => {
                let n: i64 = line[1..].parse().context("a bulk length")?;
                if n < 0 {
                    return Ok(false);
                }
                into.clear();
                into.resize(n as usize + 2, 0);
                self.stream.read_exact(into).context("reading a value")?;
                into.truncate(n as usize);
                Ok(true)
            }
            Some(b'-') => bail!("the server answered {line}"),
            _ => bail!("expected a value, got {line:?}"),
        }
    }

    /// Reads a status or integer reply; an error reply is an error.
    pub(super) fn simple(&mut self) -> Result<String> {
        let line = self.line()?;
        match line.as_bytes().first() {
            Some(b'+' | b':') => Ok(line[1..].to_owned()),
            Some(b'-') => bail!("the server answered {line}"),
            _ => bail!("expected a status, got {line:?}"),
        }
    }

    /// Reads a status reply: `Ok(None)` for a status, `Ok(Some(error))`
    /// for an error reply (the server refused the command: `-OOM`).
    pub(super) fn status(&mut self) -> Result<Option<String>> {
        let line = self.line()?;
        match line.as_bytes().first() {
            Some(b'+') => Ok(None),
            Some(b'-') => Ok(Some(line[1..].to_owned())),
            _ => bail!("expected a status, got {line:?}"),
        }
    }

    /// `INFO section` as text.
    pub(super) fn info(&mut self, section: &str) -> Result<String> {
        self.command(&[b"INFO", section.as_bytes()]);
        self.flush()?;
        let mut text = Vec::new();
        if !self.bulk(&mut text)? {
            bail!("INFO answered nil");
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self
            .stream
            .read_line(&mut line)
            .context("reading a reply")?
            == 0
        {
            bail!("the server closed the connection");
        }
        Ok(line.trim_end().to_owned())
    }
}

/// The integer `field` of INFO text (`used_memory:123`).
pub(super) fn info_field(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_read_by_name() {
        let info = "# Memory\r\nused_memory:1024\r\nused_memory_rss:4096\r\n";
        assert_eq!(info_field(info, "used_memory"), Some(1024));
        assert_eq!(info_field(info, "used_memory_rss"), Some(4096));
        assert_eq!(info_field(info, "maxmemory"), None);
    }
}
