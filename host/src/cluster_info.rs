//! `goldylox cluster info HOST:PORT…`: one table over a cluster's nodes for
//! operators — slots, keys, memory per tier, hit ratio, policies, commands.
//!
//! Given one node of a cluster, it reads `CLUSTER NODES` there and asks
//! every node listed; given several addresses (plain nodes behind a proxy
//! such as twemproxy, which do not know each other), it asks those. Each
//! node is asked `INFO everything` and `DBSIZE` over its own connection, so
//! the figures are the nodes' own. A node that does not answer gets a row
//! saying why, and the others are still shown.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a node has to answer each request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A reply as this client reads it.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Text(String),
    Int(i64),
    Error(String),
    Nil,
    Array(Vec<Reply>),
}

/// A blocking connection to one node.
struct Node {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Node {
    fn connect(addr: &str, password: Option<&str>) -> Result<Node> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut node = Node {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        if let Some(password) = password
            && let Reply::Error(e) = node.ask(&["AUTH", password])?
        {
            bail!("{addr}: AUTH: {e}");
        }
        Ok(node)
    }

    fn ask(&mut self, args: &[&str]) -> Result<Reply> {
        let mut request = format!("*{}\r\n", args.len());
        for a in args {
            request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer.write_all(request.as_bytes())?;
        read_reply(&mut self.reader)
    }

    fn text(&mut self, args: &[&str]) -> Result<String> {
        match self.ask(args)? {
            Reply::Text(t) => Ok(t),
            Reply::Error(e) => bail!("{}: {e}", args.join(" ")),
            other => bail!("{}: unexpected reply {other:?}", args.join(" ")),
        }
    }
}

/// Reads one RESP2 reply.
fn read_reply(r: &mut impl BufRead) -> Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("the connection closed");
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at_checked(1).context("an empty reply line")?;
    Ok(match kind {
        "+" => Reply::Text(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().context("a bad integer reply")?),
        "$" => {
            let Ok(len) = usize::try_from(rest.parse::<i64>()?) else {
                return Ok(Reply::Nil);
            };
            let mut body = vec![0; len + 2];
            r.read_exact(&mut body)?;
            body.truncate(len);
            Reply::Text(String::from_utf8_lossy(&body).into_owned())
        }
        "*" => {
            let Ok(n) = usize::try_from(rest.parse::<i64>()?) else {
                return Ok(Reply::Nil);
            };
            Reply::Array((0..n).map(|_| read_reply(r)).collect::<Result<_>>()?)
        }
        other => bail!("unknown reply type {other:?}"),
    })
}

/// One node's row.
#[derive(Debug, Default)]
struct Row {
    address: String,
    slots: String,
    figures: Option<Figures>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Figures {
    keys: u64,
    hot: u64,
    warm: u64,
    cold: u64,
    hits: u64,
    misses: u64,
    policy: String,
    commands: u64,
}

/// The nodes to ask: every node of the cluster `seeds[0]` belongs to, or
/// `seeds` themselves when there are several or the node is not in
/// cluster mode. Each with the slots it owns.
fn members(seeds: &[String], password: Option<&str>) -> Result<Vec<(String, String)>> {
    let plain = || seeds.iter().map(|s| (s.clone(), "-".to_owned())).collect();
    if seeds.len() > 1 {
        return Ok(plain());
    }
    let mut node = Node::connect(&seeds[0], password)?;
    let nodes = match node.ask(&["CLUSTER", "NODES"])? {
        Reply::Text(t) => t,
        Reply::Error(e) if e.contains("cluster support disabled") => return Ok(plain()),
        other => bail!("CLUSTER NODES: {other:?}"),
    };
    let members = nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?.split('@').next()?.to_owned();
            let slots = fields.get(8..).map_or_else(String::new, |s| s.join(","));
            Some((address, if slots.is_empty() { "-".into() } else { slots }))
        })
        .collect();
    Ok(members)
}

fn figures(address: &str, password: Option<&str>) -> Result<Figures> {
    let mut node = Node::connect(address, password)?;
    let info = node.text(&["INFO", "everything"])?;
    let field = |name: &str| -> Option<&str> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let keys = match node.ask(&["DBSIZE"])? {
        Reply::Int(n) => n.max(0) as u64,
        other => bail!("DBSIZE: {other:?}"),
    };
    let policy = match (field("hot_policy"), field("warm_policy")) {
        (Some(hot), Some(warm)) => format!("{hot}/{warm}"),
        (Some(hot), None) => hot.to_owned(),
        _ => field("maxmemory_policy").unwrap_or("-").to_owned(),
    };
    Ok(Figures {
        keys,
        hot: number("used_memory_hot"),
        warm: number("pool_bytes_held"),
        cold: number("cold_disk_bytes"),
        hits: number("keyspace_hits"),
        misses: number("keyspace_misses"),
        policy,
        commands: number("total_commands_processed"),
    })
}

/// The report for `seeds` (see the module docs).
pub fn report(seeds: &[String], password: Option<&str>) -> Result<String> {
    if seeds.is_empty() {
        bail!("name at least one node, HOST:PORT");
    }
    let rows: Vec<Row> = members(seeds, password)?
        .into_iter()
        .map(|(address, slots)| match figures(&address, password) {
            Ok(f) => Row {
                address,
                slots,
                figures: Some(f),
                error: None,
            },
            Err(e) => Row {
                address,
                slots,
                figures: None,
                error: Some(format!("{e:#}")),
            },
        })
        .collect();
    Ok(table(&rows))
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<22} {:<18} {:>10} {:>10} {:>10} {:>10} {:>7} {:>12}  {}\n",
        "node", "slots", "keys", "hot", "warm", "cold", "hits", "commands", "policy"
    );
    let mut total = Figures::default();
    for row in rows {
        let Some(f) = &row.figures else {
            out.push_str(&format!(
                "{:<22} {:<18} unreachable: {}\n",
                row.address,
                row.slots,
                row.error.as_deref().unwrap_or("?")
            ));
            continue;
        };
        out.push_str(&line(&row.address, &row.slots, f));
        total.keys += f.keys;
        total.hot += f.hot;
        total.warm += f.warm;
        total.cold += f.cold;
        total.hits += f.hits;
        total.misses += f.misses;
        total.commands += f.commands;
    }
    let answered = rows.iter().filter(|r| r.figures.is_some()).count();
    total.policy = format!("{answered} of {} nodes answered", rows.len());
    out.push_str(&line("total", "", &total));
    out
}

fn line(address: &str, slots: &str, f: &Figures) -> String {
    let lookups = f.hits + f.misses;
    let ratio = if lookups == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", 100.0 * f.hits as f64 / lookups as f64)
    };
    let human = |n: u64| crate::server::human_bytes(n);
    format!(
        "{:<22} {:<18} {:>10} {:>10} {:>10} {:>10} {:>7} {:>12}  {}\n",
        address,
        slots,
        f.keys,
        human(f.hot),
        human(f.warm),
        human(f.cold),
        ratio,
        f.commands,
        f.policy
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        let mut input: &[u8] = b"*3\r\n$3\r\nabc\r\n:-7\r\n*-1\r\n";
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Array(vec![Reply::Text("abc".into()), Reply::Int(-7), Reply::Nil])
        );
        let mut input: &[u8] = b"-ERR no\r\n$-1\r\n";
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Error("ERR no".into())
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Nil);
        assert!(read_reply(&mut &b""[..]).is_err());
        assert!(read_reply(&mut &b"?x\r\n"[..]).is_err());
    }
}
