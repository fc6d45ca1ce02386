//! `COMMAND DOCS` and Redis 7.0's ten-field `COMMAND INFO` against
//! redis-server 7.0.15: every command both serve has the same version,
//! group and argument tree (types, tokens, flags, key specification
//! indexes), and the same ACL categories, tips and key specifications.

use std::collections::BTreeMap;

use redis::Value;

use super::serve::TestServer;

/// A reply with maps keyed by name and sets sorted, so two servers'
/// replies compare by content (RESP3: the connection says `HELLO 3`).
#[derive(Clone, Debug, PartialEq)]
enum Tree {
    Text(String),
    Int(i64),
    List(Vec<Tree>),
    Map(BTreeMap<String, Tree>),
    Nil,
}

fn tree(v: &Value) -> Tree {
    match v {
        Value::BulkString(b) => Tree::Text(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Tree::Text(s.clone()),
        Value::Int(n) => Tree::Int(*n),
        Value::Array(items) => Tree::List(items.iter().map(tree).collect()),
        Value::Set(items) => {
            let mut items: Vec<Tree> = items.iter().map(tree).collect();
            items.sort_by_key(|t| format!("{t:?}"));
            Tree::List(items)
        }
        Value::Map(pairs) => Tree::Map(
            pairs
                .iter()
                .map(|(k, v)| match tree(k) {
                    Tree::Text(k) => (k, tree(v)),
                    other => panic!("a map keyed by {other:?}"),
                })
                .collect(),
        ),
        Value::Nil => Tree::Nil,
        other => panic!("unexpected {other:?}"),
    }
}

impl Tree {
    fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Map(m) => m.get(key),
            _ => None,
        }
    }

    fn list(&self) -> &[Tree] {
        match self {
            Tree::List(items) => items,
            _ => &[],
        }
    }

    fn text(&self) -> &str {
        match self {
            Tree::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }
}

fn resp3(c: &mut redis::Connection) {
    let _: Value = redis::cmd("HELLO").arg(3).query(c).unwrap();
}

fn ask(c: &mut redis::Connection, args: &[&str]) -> Tree {
    tree(&redis::cmd("COMMAND").arg(args).query::<Value>(c).unwrap())
}

/// Every command's `COMMAND INFO` entry by name, subcommands included.
fn infos(c: &mut redis::Connection) -> BTreeMap<String, Tree> {
    fn add(entry: &Tree, out: &mut BTreeMap<String, Tree>) {
        let fields = entry.list();
        out.insert(fields[0].text().to_owned(), entry.clone());
        fields
            .get(9)
            .map_or(&[][..], Tree::list)
            .iter()
            .for_each(|s| add(s, out));
    }
    let mut out = BTreeMap::new();
    ask(c, &[]).list().iter().for_each(|e| add(e, &mut out));
    out
}

/// Every command's `COMMAND DOCS` entry by name, subcommands included.
fn docs(c: &mut redis::Connection) -> BTreeMap<String, Tree> {
    fn add(map: &Tree, out: &mut BTreeMap<String, Tree>) {
        if let Tree::Map(m) = map {
            for (name, doc) in m {
                out.insert(name.clone(), doc.clone());
                doc.get("subcommands").into_iter().for_each(|s| add(s, out));
            }
        }
    }
    let mut out = BTreeMap::new();
    add(&ask(c, &["DOCS"]), &mut out);
    out
}

/// An argument tree's shape: each argument's type, token, flags and key
/// specification index, depth first (names are ours to choose).
fn shape(arguments: Option<&Tree>, out: &mut Vec<String>) {
    for arg in arguments.map_or(&[][..], Tree::list) {
        let field = |k: &str| arg.get(k).map(|v| format!("{v:?}")).unwrap_or_default();
        out.push(format!(
            "{} {} {} {}",
            field("type"),
            field("token"),
            field("flags"),
            field("key_spec_index")
        ));
        shape(arg.get("arguments"), out);
    }
}

/// The families goldylox answers "not supported" (docs/redis-compatibility.md).
fn unsupported(name: &str) -> bool {
    ["x", "geo", "pf", "migrate"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[test]
fn command_docs_document_every_command_and_its_subcommands() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    resp3(&mut c);
    let set = ask(&mut c, &["DOCS", "set", "nosuch"]);
    let Tree::Map(named) = &set else {
        panic!("{set:?}")
    };
    assert_eq!(named.keys().collect::<Vec<_>>(), ["set"]);
    let doc = &named["set"];
    assert_eq!(doc.get("group").unwrap().text(), "string");
    assert!(!doc.get("summary").unwrap().text().is_empty());
    let args = doc.get("arguments").unwrap().list();
    assert_eq!(args[0].get("type").unwrap().text(), "key");
    let client = ask(&mut c, &["DOCS", "client"]);
    let subs = client.get("client").and_then(|d| d.get("subcommands"));
    assert!(
        subs.and_then(|s| s.get("client|list")).is_some(),
        "{client:?}"
    );
    let all = docs(&mut c);
    assert!(all.len() > 340, "{} documented", all.len());
    let info = ask(&mut c, &["INFO", "get"]);
    assert_eq!(info.list()[0].list().len(), 10, "{info:?}");
}

#[test]
fn docs_and_info_answer_as_redis_server_does() {
    let Some(reference) = crate::serve_differential::Reference::start(false) else {
        return;
    };
    let server = TestServer::start(|_| {});
    let (mut ours, mut theirs) = (server.client(), reference.connection());
    resp3(&mut ours);
    resp3(&mut theirs);
    let (a, b) = (infos(&mut ours), infos(&mut theirs));
    let mut compared = 0;
    for (name, entry) in a
        .iter()
        .filter(|(n, _)| b.contains_key(*n) && !unsupported(n))
    {
        let (ours, theirs) = (entry.list(), b[name].list());
        assert_eq!(ours.len(), 10, "{name}");
        assert_eq!(ours[3..=5], theirs[3..=5], "{name}: key positions");
        assert_eq!(ours[6], theirs[6], "{name}: ACL categories");
        assert_eq!(ours[7], theirs[7], "{name}: tips");
        // Redis's specifications carry prose notes; the rest must match.
        let without_notes = |specs: &Tree| -> Vec<Tree> {
            let mut specs = specs.list().to_vec();
            for spec in &mut specs {
                if let Tree::Map(m) = spec {
                    m.remove("notes");
                }
            }
            specs
        };
        assert_eq!(
            without_notes(&ours[8]),
            without_notes(&theirs[8]),
            "{name}: key specifications"
        );
        compared += 1;
    }
    let (a, b) = (docs(&mut ours), docs(&mut theirs));
    let mut shapes = 0;
    let mut undocumented_there = Vec::new();
    for (name, doc) in a.iter().filter(|(n, _)| b.contains_key(*n)) {
        let theirs = &b[name];
        assert_eq!(doc.get("since"), theirs.get("since"), "{name}: since");
        assert_eq!(doc.get("group"), theirs.get("group"), "{name}: group");
        if unsupported(name) {
            continue;
        }
        let (mut x, mut y) = (Vec::new(), Vec::new());
        shape(doc.get("arguments"), &mut x);
        shape(theirs.get("arguments"), &mut y);
        if y.is_empty() && !x.is_empty() {
            undocumented_there.push(name.as_str());
            continue;
        }
        assert_eq!(x, y, "{name}: arguments");
        shapes += 1;
    }
    // Redis 7.0 documents no arguments for these two; later versions do.
    assert_eq!(
        undocumented_there,
        ["command|getkeys", "command|getkeysandflags"]
    );
    assert!(
        compared > 250 && shapes > 250,
        "{compared} infos, {shapes} docs"
    );
    println!(
        "{compared} COMMAND INFO entries and {shapes} argument trees equal redis-server's; {} versions and groups",
        a.keys().filter(|n| b.contains_key(*n)).count()
    );
}
