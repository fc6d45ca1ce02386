//! TLS beside the plain listener, with certificates made at test time
//! (rcgen): `redis-cli --tls` and redis-py with ssl; client certificates
//! when a CA is configured; a certificate rotated by reload. And Redis's
//! protected mode, from a non-loopback address of this machine.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use goldylox_host::server::tls::TlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use redis::Value;

use crate::serve::{TestServer, cmd};
use crate::serve_cluster::have;

/// A CA, and a server and a client certificate it signed, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.distinguished_name
            .push(DnType::CommonName, "goldylox test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, &ca_key);
        let leaf = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose, name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![purpose];
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.path().join(format!("{name}.crt")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        };
        let server_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        leaf(server_names, ExtendedKeyUsagePurpose::ServerAuth, "server");
        leaf(
            vec!["client".to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "client",
        );
        std::fs::write(dir.path().join("ca.crt"), ca_cert.pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, client_ca: bool) -> TlsConfig {
        TlsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: self.path("server.crt"),
            key: self.path("server.key"),
            client_ca: client_ca.then(|| self.path("ca.crt")),
        }
    }
}

/// `redis-cli --tls` on `port` with the CA (and the client certificate when
/// `client` is set): its output, or its error.
fn cli_tls(pki: &Pki, port: u16, client: bool, args: &[&str]) -> Result<String, String> {
    let mut c = Command::new("redis-cli");
    c.args(["--tls", "--cacert"])
        .arg(pki.path("ca.crt"))
        .args(["-p", &port.to_string()]);
    if client {
        c.arg("--cert")
            .arg(pki.path("client.crt"))
            .arg("--key")
            .arg(pki.path("client.key"));
    }
    let out = c.args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if out.status.success() && !text.starts_with("Could not connect") && !text.contains("Error") {
        Ok(text)
    } else {
        Err(format!("{text} {err}"))
    }
}

#[test]
fn tls_and_plain_listen_side_by_side() {
    if !have("redis-cli", &["--version"], "apt-get install redis-tools") {
        return;
    }
    let pki = Pki::new();
    let tls = pki.tls(false);
    let server = TestServer::start(move |c| c.server.tls = Some(tls));
    let port = server.tls.expect("a TLS listener").port();
    assert_eq!(
        cli_tls(&pki, port, false, &["SET", "k", "over-tls"]).unwrap(),
        "OK"
    );
    let mut plain = server.client();
    assert_eq!(
        cmd(&mut plain, &["GET", "k"]).unwrap(),
        Value::BulkString(b"over-tls".to_vec())
    );
    // Plain RESP on the TLS port gets no reply: the handshake fails.
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = raw.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"+PONG"), "{:?}", &buf[..n]);
    if have("python3", &["-c", "import redis"], "pip install redis") {
        let script = format!(
            "import redis\nr = redis.Redis(port={port}, ssl=True, ssl_ca_certs='{}')\n\
             r.set('py', 'tls')\nassert r.get('py') == b'tls'\nassert r.get('k') == b'over-tls'\n",
            pki.path("ca.crt").display()
        );
        crate::serve_cluster::python(&script);
    }
}

#[test]
fn a_client_ca_requires_client_certificates_and_a_reload_rotates_them() {
    if !have("redis-cli", &["--version"], "apt-get install redis-tools") {
        return;
    }
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tls.toml");
    let write = |cert: &Path| {
        let text = format!(
            "[server.tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n\
             [cache]\nwarm_bytes = 0\n[cache.cold]\nenabled = false\n",
            cert.display(),
            pki.path("server.key").display(),
            pki.path("ca.crt").display()
        );
        std::fs::write(&file, text).unwrap();
    };
    write(&pki.path("server.crt"));
    let server = TestServer::start_from(Some(file.clone()), |_| {});
    let port = server.tls.unwrap().port();
    assert!(cli_tls(&pki, port, false, &["PING"]).is_err());
    assert_eq!(cli_tls(&pki, port, true, &["PING"]).unwrap(), "PONG");
    // A reload whose certificate does not match its key changes nothing.
    write(&pki.path("client.crt"));
    let mut c = server.client();
    let err = cmd(&mut c, &["GOLDYLOX", "RELOAD"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.tls"), "{err}");
    assert_eq!(cli_tls(&pki, port, true, &["PING"]).unwrap(), "PONG");
    // A new certificate for the same key loads, and serves.
    let key = KeyPair::from_pem(&std::fs::read_to_string(pki.path("server.key")).unwrap()).unwrap();
    let rotated = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let rotated_path = dir.path().join("rotated.crt");
    std::fs::write(&rotated_path, rotated.pem()).unwrap();
    write(&rotated_path);
    let lines: Vec<String> = redis::cmd("GOLDYLOX").arg("RELOAD").query(&mut c).unwrap();
    assert!(!lines.is_empty());
    // The rotated certificate is self-signed, so the old CA no longer
    // vouches for the server: the client refuses it.
    assert!(cli_tls(&pki, port, true, &["PING"]).is_err());
}

/// An address of this machine that is not loopback (the one its default
/// route leaves from), if it has one.
fn outward_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the route.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_refuses_outside_clients_without_a_password() {
    let Some(outside) = outward_address() else {
        crate::skip("a non-loopback address to test protected mode from");
        return;
    };
    let server = TestServer::start(|c| c.server.listen = "0.0.0.0:0".parse().unwrap());
    let port = server.addr.port();
    let ask = |from: IpAddr| -> String {
        let mut s = TcpStream::connect(SocketAddr::new(from, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"PING\r\nQUIT\r\n").unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    };
    let denied = ask(outside);
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode"),
        "{denied}"
    );
    assert!(denied.ends_with("accepting connections from the outside.\r\n"));
    let mut local = server.client();
    assert_eq!(
        cmd(&mut local, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    // A password lifts it: the outside client is asked to authenticate.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("pw")
        .query(&mut local)
        .unwrap();
    assert!(ask(outside).starts_with("-NOAUTH"), "{}", ask(outside));
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query(&mut local)
        .unwrap();
    assert!(ask(outside).starts_with("-DENIED"));
    // So does turning it off.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("protected-mode")
        .arg("no")
        .query(&mut local)
        .unwrap();
    assert!(ask(outside).starts_with("+PONG"), "{}", ask(outside));
    // Bound to loopback, it never applies (and a loopback client is fine).
    let loopback = TestServer::start(|_| {});
    let mut c = loopback.client();
    let mode: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("protected-mode")
        .query(&mut c)
        .unwrap();
    assert_eq!(mode, ["protected-mode", "yes"]);
}

#[test]
fn goldylox_bench_runs_over_tls() {
    let pki = Pki::new();
    let tls = pki.tls(false);
    let server = TestServer::start(move |c| c.server.tls = Some(tls));
    let port = server.tls.expect("a TLS listener").port();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let keys: String = (0..2_000).map(|i| format!("{}\n", i % 300)).collect();
    std::fs::write(&trace, keys).unwrap();
    let args = goldylox_host::bench::RunArgs {
        tls_ca: Some(pki.path("ca.crt")),
        format: Some("plain".to_owned()),
        value_size: 64,
        ttl: Some(600),
        connections: 2,
        pipeline: 4,
        warmup: 0.1,
        flush: true,
        ..goldylox_host::bench::RunArgs::new(format!("127.0.0.1:{port}"), trace)
    };
    let run = goldylox_host::bench::run(&args).unwrap();
    let counts = &run.outcome.counts;
    assert_eq!((counts.requests, counts.wrong), (1_800, 0));
    // 300 keys, 2,000 requests: after the first sight of each, hits.
    assert!(counts.hits >= 1_400, "{} hits", counts.hits);
    let mut plain = server.client();
    let ttl: i64 = redis::cmd("TTL").arg("bench:0").query(&mut plain).unwrap();
    assert!((1..=600).contains(&ttl), "TTL {ttl}");
}
