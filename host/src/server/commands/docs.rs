//! `COMMAND DOCS`: each command's summary, the version of Redis that
//! introduced it, its group, its complexity and its arguments as a tree,
//! the reply redis-cli builds its `help` and its hints from. The text
//! lives in `docs.txt`, one line per command and subcommand, its
//! arguments written in a compact syntax that this module parses once
//! into Redis 7.0's argument tree (name, type, token, flags, children).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::LazyLock;

use bytes::BytesMut;

use crate::server::resp::reply;

/// One command's documentation.
pub(super) struct Doc {
    /// The Redis version that introduced it (`goldylox`'s: Goldylox's).
    pub since: &'static str,
    /// Redis's group: `string`, `sorted-set`, `server`, …
    pub group: &'static str,
    /// Its time complexity, in words (empty: not stated).
    pub complexity: &'static str,
    /// What it does, in a sentence.
    pub summary: &'static str,
    /// Its arguments, after its name (and its subcommand's).
    pub arguments: Vec<Arg>,
}

/// One argument, as `COMMAND DOCS` describes it.
#[derive(Debug, PartialEq)]
pub(super) struct Arg {
    /// Its name (`key`, `expiration`, `nx`).
    pub name: String,
    /// `key`, `string`, `integer`, `double`, `pattern`, `unix-time`,
    /// `pure-token`, `oneof` or `block`.
    pub kind: &'static str,
    /// The word that introduces it (`EX` before `seconds`).
    pub token: Option<&'static str>,
    /// It may be left out.
    pub optional: bool,
    /// It may repeat.
    pub multiple: bool,
    /// Its token repeats with it (`GET p1 GET p2`).
    pub multiple_token: bool,
    /// Its alternatives (`oneof`) or parts (`block`).
    pub children: Vec<Arg>,
    /// The key specification its keys follow, where the order of the key
    /// arguments does not say (`SORT`'s `BY pattern@1`).
    pub key_spec: Option<usize>,
}

/// The text: `name | since | group | complexity | summary | syntax`.
const TEXT: &str = include_str!("docs.txt");

/// Every command's and subcommand's (`client|list`) documentation.
pub(super) static DOCS: LazyLock<BTreeMap<&'static str, Doc>> = LazyLock::new(|| {
    TEXT.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| parse_line(line).unwrap_or_else(|e| panic!("docs.txt: {e}: {line}")))
        .collect()
});

fn parse_line(line: &'static str) -> Result<(&'static str, Doc), String> {
    // Names have no space before a bar (`acl|cat`); the syntax, last, may.
    let fields: Vec<&'static str> = line.splitn(6, " |").map(str::trim).collect();
    let [name, since, group, complexity, summary, syntax] = fields[..] else {
        return Err("six fields wanted".to_owned());
    };
    let arguments = parse_syntax(syntax)?;
    Ok((
        name,
        Doc {
            since,
            group,
            complexity,
            summary,
            arguments,
        },
    ))
}

/// A piece of the syntax: a word, a label (`expiration=`), a bracket, a
/// bar, or `...` after a group.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Piece<'a> {
    Word(&'a str),
    Label(&'a str),
    Open(u8),
    Close(u8),
    Bar,
    Repeat,
}

fn pieces(syntax: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let bytes = syntax.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => i += 1,
            b @ (b'[' | b'(') => (out.push(Piece::Open(b)), i += 1).1,
            b @ (b']' | b')') => (out.push(Piece::Close(b)), i += 1).1,
            b'|' => (out.push(Piece::Bar), i += 1).1,
            b'.' if syntax[i..].starts_with("...") => (out.push(Piece::Repeat), i += 3).1,
            _ => {
                let end = syntax[i..]
                    .find([' ', '[', ']', '(', ')', '|'])
                    .map_or(syntax.len(), |n| i + n);
                let word = &syntax[i..end];
                match word.split_once('=') {
                    Some((label, rest)) => {
                        out.push(Piece::Label(label));
                        if !rest.is_empty() {
                            out.push(Piece::Word(rest));
                        }
                    }
                    None => out.push(Piece::Word(word)),
                }
                i = end;
            }
        }
    }
    out
}

/// One parsed item of a sequence, before it becomes an [`Arg`].
#[derive(Debug)]
enum Item<'a> {
    Word(&'a str),
    Group {
        optional: bool,
        repeat: bool,
        label: Option<&'a str>,
        /// A labelled `(...)`: a block even of one item (`CONFIG GET`'s).
        block: bool,
        alternatives: Vec<Vec<Item<'a>>>,
    },
}

/// The arguments `syntax` describes.
fn parse_syntax(syntax: &'static str) -> Result<Vec<Arg>, String> {
    let pieces = pieces(syntax);
    let mut at = 0;
    let alternatives = sequence(&pieces, &mut at)?;
    if at != pieces.len() {
        return Err(format!("unbalanced {:?}", pieces[at]));
    }
    match alternatives.as_slice() {
        [] => Ok(Vec::new()),
        [items] => items.iter().map(|i| item_arg(i, None)).collect(),
        _ => Err("a bar outside brackets".to_owned()),
    }
}

/// Items up to a closing bracket (not consumed), split at bars.
fn sequence<'a>(pieces: &[Piece<'a>], at: &mut usize) -> Result<Vec<Vec<Item<'a>>>, String> {
    let mut alternatives = vec![Vec::new()];
    let mut label = None;
    while let Some(&piece) = pieces.get(*at) {
        *at += 1;
        let current = alternatives.last_mut().expect("one at least");
        match piece {
            Piece::Close(_) => {
                *at -= 1;
                break;
            }
            Piece::Bar => alternatives.push(Vec::new()),
            Piece::Label(name) => label = Some(name),
            Piece::Word(word) => {
                let word = match label.take() {
                    // `SORTING=ALPHA`: a token under another name.
                    Some(name) => {
                        current.push(Item::Group {
                            optional: false,
                            repeat: false,
                            label: Some(name),
                            block: false,
                            alternatives: vec![vec![Item::Word(word)]],
                        });
                        continue;
                    }
                    None => word,
                };
                current.push(Item::Word(word));
            }
            Piece::Open(open) => {
                let inner = sequence(pieces, at)?;
                let close = if open == b'[' { b']' } else { b')' };
                if pieces.get(*at) != Some(&Piece::Close(close)) {
                    return Err(format!("{} not closed", open as char));
                }
                *at += 1;
                let repeat = pieces.get(*at) == Some(&Piece::Repeat);
                *at += usize::from(repeat);
                let label = label.take();
                current.push(Item::Group {
                    optional: open == b'[',
                    repeat,
                    label,
                    block: open == b'(' && label.is_some(),
                    alternatives: inner,
                });
            }
            Piece::Repeat => return Err("... after nothing".to_owned()),
        }
    }
    Ok(alternatives)
}

fn is_token(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_uppercase()) && !word.bytes().any(|b| b.is_ascii_lowercase())
}

fn item_arg(item: &Item<'static>, token: Option<&'static str>) -> Result<Arg, String> {
    match item {
        Item::Word(word) => Ok(word_arg(word, token)),
        Item::Group {
            optional,
            repeat,
            label,
            block,
            alternatives,
        } => {
            let mut arg = match alternatives.as_slice() {
                [one] if *block => {
                    let children = one
                        .iter()
                        .map(|i| item_arg(i, None))
                        .collect::<Result<Vec<_>, _>>()?;
                    composite("block", String::new(), children)
                }
                [one] => alternative_arg(one)?,
                many => {
                    let children = many
                        .iter()
                        .map(|a| alternative_arg(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    let name = children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>();
                    composite("oneof", name.join("-"), children)
                }
            };
            if let Some(label) = label {
                arg.name = (*label).to_owned();
            }
            arg.optional |= optional;
            arg.multiple |= repeat;
            arg.multiple_token |= *repeat && arg.token.is_some();
            if token.is_some() {
                arg.token = token;
            }
            Ok(arg)
        }
    }
}

/// One alternative of a group: a token and its value (`EX seconds`,
/// `TYPE (NORMAL | …)`), a token and its parts (`LIMIT offset count`),
/// one item, or a block of several.
fn alternative_arg(items: &[Item<'static>]) -> Result<Arg, String> {
    match items {
        [] => Err("an empty alternative".to_owned()),
        [one] => item_arg(one, None),
        [Item::Word(t), value] if is_token(t) && !matches!(value, Item::Word(w) if is_token(w)) => {
            item_arg(value, Some(t))
        }
        [Item::Word(t), rest @ ..] if is_token(t) && rest.iter().all(|i| !is_token_item(i)) => {
            let children = rest
                .iter()
                .map(|i| item_arg(i, None))
                .collect::<Result<Vec<_>, _>>()?;
            let mut block = composite("block", t.to_ascii_lowercase(), children);
            block.token = Some(t);
            Ok(block)
        }
        many => {
            let children = many
                .iter()
                .map(|i| item_arg(i, None))
                .collect::<Result<Vec<_>, _>>()?;
            let name = children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>();
            Ok(composite("block", name.join("-"), children))
        }
    }
}

fn is_token_item(item: &Item<'_>) -> bool {
    matches!(item, Item::Word(w) if is_token(w))
}

fn composite(kind: &'static str, name: String, children: Vec<Arg>) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        multiple_token: false,
        children,
        key_spec: None,
    }
}

/// A word: a token alone (`NX`), or a named value (`seconds`, `key...`,
/// `increment:double`).
fn word_arg(word: &'static str, token: Option<&'static str>) -> Arg {
    let (word, multiple) = match word.strip_suffix("...") {
        Some(w) => (w, true),
        None => (word, false),
    };
    let (word, key_spec) = match word.split_once('@') {
        Some((w, n)) => (w, n.parse().ok()),
        None => (word, None),
    };
    if is_token(word) {
        let mut arg = composite("pure-token", word.to_ascii_lowercase(), Vec::new());
        arg.token = Some(word);
        return arg;
    }
    let (name, kind) = match word.rsplit_once(':') {
        Some((name, kind)) if TYPES.contains(&kind) => (
            name,
            TYPES[TYPES.iter().position(|t| *t == kind).expect("found")],
        ),
        _ => (word, type_of(word)),
    };
    Arg {
        multiple,
        token,
        key_spec,
        ..composite(kind, name.to_owned(), Vec::new())
    }
}

const TYPES: [&str; 6] = ["key", "string", "integer", "double", "pattern", "unix-time"];

/// The type an argument's name implies.
fn type_of(name: &str) -> &'static str {
    const KEYS: [&str; 5] = ["key", "source", "destination", "destkey", "newkey"];
    const INTEGERS: [&str; 18] = [
        "count",
        "numkeys",
        "seconds",
        "milliseconds",
        "offset",
        "start",
        "stop",
        "end",
        "index",
        "increment",
        "decrement",
        "bit",
        "bits",
        "cursor",
        "rank",
        "len",
        "limit",
        "timeout",
    ];
    if KEYS.contains(&name) {
        "key"
    } else if INTEGERS.contains(&name) {
        "integer"
    } else if name.starts_with("unix-time") {
        "unix-time"
    } else if name == "pattern" {
        "pattern"
    } else if name == "score" {
        "double"
    } else {
        "string"
    }
}

/// `COMMAND DOCS [name …]`: every command's documentation (subcommands
/// inside their container's), or the named ones', leaving out unknown
/// names.
pub(super) fn command_docs(
    out: &mut BytesMut,
    names: &[Vec<u8>],
    key_specs: impl Fn(&str) -> usize,
) {
    let wanted: Vec<&'static str> = if names.is_empty() {
        DOCS.keys().copied().filter(|n| !n.contains('|')).collect()
    } else {
        names
            .iter()
            .filter_map(|n| {
                let lowered = String::from_utf8_lossy(n).to_ascii_lowercase();
                DOCS.get_key_value(lowered.as_str()).map(|(k, _)| *k)
            })
            .collect()
    };
    reply::map(out, wanted.len());
    for name in wanted {
        reply::bulk(out, name.as_bytes());
        write_doc(out, name, &key_specs);
    }
}

fn write_doc(out: &mut BytesMut, name: &str, key_specs: &impl Fn(&str) -> usize) {
    let doc = &DOCS[name];
    let prefix = format!("{name}|");
    let subs: Vec<&'static str> = DOCS
        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
        .map(|(k, _)| *k)
        .take_while(|k| k.starts_with(&prefix))
        .collect();
    let fields = [doc.summary, doc.since, doc.group, doc.complexity]
        .iter()
        .filter(|f| !f.is_empty())
        .count();
    let extra = usize::from(!doc.arguments.is_empty()) + usize::from(!subs.is_empty());
    reply::map(out, fields + extra);
    let named = [
        ("summary", doc.summary),
        ("since", doc.since),
        ("group", doc.group),
        ("complexity", doc.complexity),
    ];
    for (field, value) in named.into_iter().filter(|(_, v)| !v.is_empty()) {
        reply::bulk(out, field.as_bytes());
        reply::bulk(out, value.as_bytes());
    }
    if !doc.arguments.is_empty() {
        reply::bulk(out, b"arguments");
        let mut keys = 0;
        let specs = key_specs(name);
        reply::array(out, doc.arguments.len());
        for arg in &doc.arguments {
            write_arg(out, arg, &mut keys, specs);
        }
    }
    if !subs.is_empty() {
        reply::bulk(out, b"subcommands");
        reply::map(out, subs.len());
        for sub in subs {
            reply::bulk(out, sub.as_bytes());
            write_doc(out, sub, key_specs);
        }
    }
}

/// One argument: its key arguments name the key specification they
/// follow (the first key the first, later ones the last, as
/// `COMMAND INFO`'s specifications are laid out).
fn write_arg(out: &mut BytesMut, arg: &Arg, keys: &mut usize, specs: usize) {
    let flags: Vec<&str> = [
        (arg.optional, "optional"),
        (arg.multiple, "multiple"),
        (arg.multiple_token, "multiple_token"),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
    .collect();
    let is_key = arg.kind == "key" || arg.key_spec.is_some();
    let n = 2
        + usize::from(is_key)
        + usize::from(arg.token.is_some())
        + usize::from(!flags.is_empty())
        + usize::from(!arg.children.is_empty());
    reply::map(out, n);
    reply::bulk(out, b"name");
    reply::bulk(out, arg.name.as_bytes());
    reply::bulk(out, b"type");
    reply::bulk(out, arg.kind.as_bytes());
    if is_key {
        reply::bulk(out, b"key_spec_index");
        let index = arg.key_spec.unwrap_or((*keys).min(specs.saturating_sub(1)));
        reply::int(out, index as i64);
        *keys += 1;
    }
    if let Some(token) = arg.token {
        reply::bulk(out, b"token");
        reply::bulk(out, token.as_bytes());
    }
    if !flags.is_empty() {
        reply::bulk(out, b"flags");
        reply::set(out, flags.len());
        flags.iter().for_each(|f| reply::simple(out, f));
    }
    if !arg.children.is_empty() {
        reply::bulk(out, b"arguments");
        reply::array(out, arg.children.len());
        for child in &arg.children {
            write_arg(out, child, keys, specs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::commands::subcommands::CONTAINERS;
    use crate::server::commands::table::TABLE;

    #[test]
    fn every_command_and_subcommand_has_a_line_that_parses() {
        let mut wanted: Vec<String> = TABLE.iter().map(|s| s.name.to_owned()).collect();
        for (container, subs) in CONTAINERS {
            wanted.extend(subs.iter().map(|s| format!("{container}|{}", s.name)));
        }
        for name in &wanted {
            assert!(DOCS.contains_key(name.as_str()), "docs.txt lacks {name}");
        }
        assert_eq!(
            DOCS.len(),
            wanted.len(),
            "docs.txt names only known commands"
        );
    }

    #[test]
    fn the_syntax_becomes_redis_argument_trees() {
        let set = &DOCS["set"].arguments;
        assert_eq!(set.len(), 5);
        assert_eq!((set[0].name.as_str(), set[0].kind), ("key", "key"));
        let condition = &set[2];
        assert_eq!(
            (condition.name.as_str(), condition.kind),
            ("condition", "oneof")
        );
        assert!(condition.optional && condition.children.len() == 2);
        assert_eq!(condition.children[0].token, Some("NX"));
        let expiration = &set[4].children[0];
        assert_eq!(
            (expiration.name.as_str(), expiration.kind, expiration.token),
            ("seconds", "integer", Some("EX"))
        );
        let sort = &DOCS["sort"].arguments;
        let get = sort.iter().find(|a| a.token == Some("GET")).unwrap();
        assert!(get.optional && get.multiple && get.multiple_token);
        assert_eq!(get.kind, "pattern");
        let limit = sort.iter().find(|a| a.token == Some("LIMIT")).unwrap();
        assert_eq!((limit.kind, limit.children.len()), ("block", 2));
        let alpha = sort.iter().find(|a| a.token == Some("ALPHA")).unwrap();
        assert_eq!((alpha.name.as_str(), alpha.kind), ("sorting", "pure-token"));
        let mset = &DOCS["mset"].arguments[0];
        assert!(mset.multiple && mset.kind == "block" && mset.name == "data");
        assert!(parse_syntax("key [NX").is_err());
        assert!(parse_syntax("a | b").is_err());
    }
}
