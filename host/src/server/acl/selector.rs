//! A selector: which commands, keys and channels a set of permissions
//! allows. A user has a root selector and any number of others (`(…)` in
//! `ACL SETUSER`); a command runs if any of them allows all of it.
//!
//! Command permissions are kept as Redis 7.0 keeps them: a base (`+@all`
//! or `-@all`) and the ordered rules applied since, each rule replacing an
//! earlier one for the same command or category. What is allowed is
//! computed from them once, when they change, into a bit per command of the
//! table and the subcommand exceptions.

use std::collections::{BTreeSet, HashMap};

use super::categories;
use crate::server::commands::table::{self, Spec, TABLE};
use crate::server::glob;

/// What a command rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Category(u32),
    Command(usize),
    /// A command and one subcommand (lower case).
    Sub(usize, String),
}

/// A key pattern and the access it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPattern {
    pattern: Vec<u8>,
    read: bool,
    write: bool,
}

/// Why a selector refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The command (or its subcommand) is not allowed.
    Command,
    /// The key at this argument position is not.
    Key(usize),
    /// The channel at this argument position is not.
    Channel(usize),
}

/// A request as the check sees it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Its command's position in the table.
    pub index: usize,
    /// Its command.
    pub spec: &'a Spec,
    /// The whole request, the command's name first.
    pub args: &'a [Vec<u8>],
    /// Where its keys are among `args`.
    pub keys: &'a [usize],
    /// The access it needs to them.
    pub access: Access,
}

/// The access a command needs to its keys.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// It reads them.
    pub read: bool,
    /// It changes them.
    pub write: bool,
}

/// One set of permissions.
#[derive(Debug, Clone)]
pub struct Selector {
    all_base: bool,
    rules: Vec<(bool, Item)>,
    /// Computed: a bit per command of the table.
    allowed: Vec<bool>,
    /// Computed: subcommands allowed of a command that is not, and denied
    /// of one that is.
    subs: HashMap<usize, (BTreeSet<String>, BTreeSet<String>)>,
    all_keys: bool,
    keys: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

impl Default for Selector {
    /// Nothing allowed: `-@all`, no keys, no channels.
    fn default() -> Self {
        Selector {
            all_base: false,
            rules: Vec::new(),
            allowed: vec![false; TABLE.len()],
            subs: HashMap::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }
}

/// A rule that could not be applied: the reason `ACL SETUSER` reports.
pub type RuleError = &'static str;

/// Redis's reason for a command or category it does not know.
pub const UNKNOWN_NAME: RuleError = "Unknown command or category name in ACL";
/// Redis's reason for a rule it cannot parse.
pub const SYNTAX: RuleError = "Syntax error";

impl Selector {
    /// Everything allowed: `~* &* +@all`.
    pub fn everything() -> Self {
        let mut s = Selector::default();
        s.set_all_commands(true);
        s.all_keys = true;
        s.all_channels = true;
        s
    }

    /// Applies one selector rule (`~pat`, `%R~pat`, `&pat`, `+cmd`,
    /// `-@cat`, `allkeys`, …); `Ok(false)` if `rule` is not a selector rule
    /// at all (a user rule, say).
    pub fn apply(&mut self, rule: &str) -> Result<bool, RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" => self.set_all_keys(),
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" => self.set_all_commands(true),
            "nocommands" => self.set_all_commands(false),
            _ => return self.apply_pattern_or_command(rule),
        }
        Ok(true)
    }

    fn apply_pattern_or_command(&mut self, rule: &str) -> Result<bool, RuleError> {
        let bytes = rule.as_bytes();
        if let Some(pattern) = rule.strip_prefix('~') {
            self.add_key(pattern.as_bytes(), true, true)?;
        } else if let Some(rest) = rule.strip_prefix('%') {
            let (perms, pattern) = rest.split_once('~').ok_or(SYNTAX)?;
            let (mut read, mut write) = (false, false);
            for c in perms.chars() {
                match c.to_ascii_uppercase() {
                    'R' => read = true,
                    'W' => write = true,
                    _ => return Err(SYNTAX),
                }
            }
            if !read && !write {
                return Err(SYNTAX);
            }
            self.add_key(pattern.as_bytes(), read, write)?;
        } else if let Some(pattern) = rule.strip_prefix('&') {
            if pattern == "*" {
                return self.apply("allchannels");
            }
            if self.all_channels {
                return Err(
                    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                     and does not have any effect. Try 'resetchannels' to start with an empty list \
                     of channels",
                );
            }
            if !self.channels.iter().any(|c| c == pattern.as_bytes()) {
                self.channels.push(pattern.as_bytes().to_vec());
            }
        } else if matches!(bytes.first(), Some(b'+' | b'-')) {
            self.command_rule(bytes[0] == b'+', &rule[1..])?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn set_all_keys(&mut self) {
        self.all_keys = true;
        self.keys.clear();
    }

    fn add_key(&mut self, pattern: &[u8], read: bool, write: bool) -> Result<(), RuleError> {
        if pattern == b"*" && read && write {
            self.set_all_keys();
            return Ok(());
        }
        if self.all_keys {
            return Err(
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            );
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => {
                k.read |= read;
                k.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        Ok(())
    }

    fn set_all_commands(&mut self, all: bool) {
        self.all_base = all;
        self.rules.clear();
        self.recompute();
    }

    /// `+name`/`-name`: a category (`@cat`), a command, or a command's
    /// subcommand (`cmd|sub`).
    fn command_rule(&mut self, allow: bool, name: &str) -> Result<(), RuleError> {
        let item = if let Some(category) = name.strip_prefix('@') {
            if category.eq_ignore_ascii_case("all") {
                self.set_all_commands(allow);
                return Ok(());
            }
            Item::Category(categories::bit(category).ok_or(UNKNOWN_NAME)?)
        } else if let Some((command, sub)) = name.split_once('|') {
            if sub.contains('|') {
                return Err("Allowing first-arg of a subcommand is not supported");
            }
            if sub.is_empty() {
                return Err(SYNTAX);
            }
            let index = table::lookup_index(command.as_bytes()).ok_or(UNKNOWN_NAME)?;
            Item::Sub(index, sub.to_ascii_lowercase())
        } else {
            Item::Command(table::lookup_index(name.as_bytes()).ok_or(UNKNOWN_NAME)?)
        };
        // A later rule for the same thing replaces the earlier one; a whole
        // command's rule replaces its subcommands' too.
        self.rules.retain(|(_, old)| match (&item, old) {
            (Item::Command(c), Item::Sub(s, _)) => c != s,
            _ => *old != item,
        });
        self.rules.push((allow, item));
        self.recompute();
        Ok(())
    }

    fn recompute(&mut self) {
        self.allowed = vec![self.all_base; TABLE.len()];
        self.subs.clear();
        for (allow, item) in &self.rules {
            match item {
                Item::Category(bit) => {
                    for (i, spec) in TABLE.iter().enumerate() {
                        if categories::of(spec) & bit != 0 {
                            self.allowed[i] = *allow;
                            self.subs.remove(&i);
                        }
                    }
                }
                Item::Command(i) => {
                    self.allowed[*i] = *allow;
                    self.subs.remove(i);
                }
                Item::Sub(i, sub) => {
                    let (allowed, denied) = self.subs.entry(*i).or_default();
                    if *allow {
                        denied.remove(sub);
                        allowed.insert(sub.clone());
                    } else {
                        allowed.remove(sub);
                        denied.insert(sub.clone());
                    }
                }
            }
        }
    }

    /// Whether the command at `index` of the table, with its subcommand
    /// `sub`, is allowed.
    pub fn allows_command(&self, index: usize, sub: Option<&[u8]>) -> bool {
        let whole = self.allowed[index];
        let Some((allowed, denied)) = self.subs.get(&index) else {
            return whole;
        };
        let sub = sub.map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
        let named = |set: &BTreeSet<String>| sub.as_ref().is_some_and(|s| set.contains(s));
        if whole {
            !named(denied)
        } else {
            named(allowed)
        }
    }

    /// Whether every key at `positions` of `args` is allowed with `access`.
    fn refuse_keys(&self, args: &[Vec<u8>], positions: &[usize], access: Access) -> Option<usize> {
        if self.all_keys {
            return None;
        }
        positions.iter().copied().find(|&at| {
            !self.keys.iter().any(|k| {
                (!access.read || k.read)
                    && (!access.write || k.write)
                    && glob::matches(&k.pattern, &args[at])
            })
        })
    }

    /// Whether `channel` (a pattern itself when `literal`, as `PSUBSCRIBE`
    /// names it) is allowed.
    pub fn allows_channel(&self, channel: &[u8], literal: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if literal {
                    p == channel
                } else {
                    glob::matches(p, channel)
                }
            })
    }

    /// Checks a whole request against this selector.
    pub fn check(&self, r: &Request<'_>) -> Result<(), Refusal> {
        let args = r.args;
        if !self.allows_command(r.index, args.get(1).map(Vec::as_slice)) {
            return Err(Refusal::Command);
        }
        if let Some(at) = self.refuse_keys(args, r.keys, r.access) {
            return Err(Refusal::Key(at));
        }
        let (from, literal) = match r.spec.name {
            "publish" | "spublish" => (1..2.min(args.len()), false),
            "subscribe" | "ssubscribe" => (1..args.len(), false),
            "psubscribe" => (1..args.len(), true),
            _ => (0..0, false),
        };
        if let Some(at) = from
            .into_iter()
            .find(|&at| !self.allows_channel(&args[at], literal))
        {
            return Err(Refusal::Channel(at));
        }
        Ok(())
    }

    /// `ACL GETUSER`'s `commands`: the base and the rules.
    pub fn describe_commands(&self) -> String {
        let mut out = String::from(if self.all_base { "+@all" } else { "-@all" });
        for (allow, item) in &self.rules {
            out.push(' ');
            out.push(if *allow { '+' } else { '-' });
            match item {
                Item::Category(bit) => {
                    out.push('@');
                    out.push_str(categories::NAMES[bit.trailing_zeros() as usize]);
                }
                Item::Command(i) => out.push_str(TABLE[*i].name),
                Item::Sub(i, sub) => {
                    out.push_str(TABLE[*i].name);
                    out.push('|');
                    out.push_str(sub);
                }
            }
        }
        out
    }

    /// `ACL GETUSER`'s `keys`: `~pat`, `%R~pat`, `%W~pat`; `~*` for all.
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".to_owned();
        }
        let words: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let pattern = String::from_utf8_lossy(&k.pattern);
                match (k.read, k.write) {
                    (true, true) => format!("~{pattern}"),
                    (true, false) => format!("%R~{pattern}"),
                    _ => format!("%W~{pattern}"),
                }
            })
            .collect();
        words.join(" ")
    }

    /// `ACL GETUSER`'s `channels`: `&pat …`; `&*` for all.
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".to_owned();
        }
        let words: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        words.join(" ")
    }

    /// The rules that rebuild this selector, as `ACL LIST` and the ACL file
    /// write them: keys, channels, then commands.
    pub fn describe(&self) -> String {
        let mut words = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            words.push(keys);
        }
        if self.all_channels {
            words.push("&*".to_owned());
        } else {
            words.push("resetchannels".to_owned());
            let channels = self.describe_channels();
            if !channels.is_empty() {
                words.push(channels);
            }
        }
        words.push(self.describe_commands());
        words.join(" ")
    }

    /// Whether it allows everything, so no check is needed.
    pub fn unrestricted(&self) -> bool {
        self.all_keys && self.all_channels && self.all_base && self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(rules: &[&str]) -> Selector {
        let mut s = Selector::default();
        for rule in rules {
            assert_eq!(s.apply(rule), Ok(true), "{rule}");
        }
        s
    }

    fn index(name: &str) -> usize {
        table::lookup_index(name.as_bytes()).unwrap()
    }

    #[test]
    fn later_rules_replace_earlier_ones_as_redis_describes_them() {
        let s = selector(&["+@all", "-@string", "+incr", "-config", "+config|get"]);
        assert_eq!(
            s.describe_commands(),
            "+@all -@string +incr -config +config|get"
        );
        assert!(s.allows_command(index("config"), Some(b"get")));
        assert!(!s.allows_command(index("config"), Some(b"set")));
        assert!(!s.allows_command(index("get"), None));
        assert!(s.allows_command(index("incr"), None));
        assert!(s.allows_command(index("hset"), None));
        let s = selector(&["+get", "+@string", "-get", "+get"]);
        assert_eq!(s.describe_commands(), "-@all +@string +get");
    }

    #[test]
    fn subcommands_are_allowed_and_denied_apart_from_their_command() {
        let s = selector(&["+client|list"]);
        assert!(s.allows_command(index("client"), Some(b"LIST")));
        assert!(!s.allows_command(index("client"), Some(b"kill")));
        let s = selector(&["+client", "-client|kill"]);
        assert!(s.allows_command(index("client"), Some(b"list")));
        assert!(!s.allows_command(index("client"), Some(b"KILL")));
        let s = selector(&["+client|kill", "-client"]);
        assert_eq!(s.describe_commands(), "-@all -client");
        let mut s = Selector::default();
        assert_eq!(
            s.apply("+client|list|x"),
            Err("Allowing first-arg of a subcommand is not supported")
        );
        assert_eq!(s.apply("+nosuch"), Err(UNKNOWN_NAME));
        assert_eq!(s.apply("+@nosuch"), Err(UNKNOWN_NAME));
        assert_eq!(s.apply("foo"), Ok(false));
    }

    #[test]
    fn keys_are_checked_for_the_access_the_command_needs() {
        let s = selector(&["allcommands", "~cache:*", "%R~ro:*", "%W~wo:*"]);
        let args = |k: &str| vec![b"x".to_vec(), k.as_bytes().to_vec()];
        let read = Access {
            read: true,
            write: false,
        };
        let write = Access {
            read: false,
            write: true,
        };
        assert_eq!(s.refuse_keys(&args("cache:1"), &[1], read), None);
        assert_eq!(s.refuse_keys(&args("ro:1"), &[1], read), None);
        assert_eq!(s.refuse_keys(&args("ro:1"), &[1], write), Some(1));
        assert_eq!(s.refuse_keys(&args("wo:1"), &[1], write), None);
        assert_eq!(s.refuse_keys(&args("wo:1"), &[1], read), Some(1));
        assert_eq!(s.refuse_keys(&args("other"), &[1], read), Some(1));
        assert_eq!(s.describe_keys(), "~cache:* %R~ro:* %W~wo:*");
        let mut s = selector(&["allkeys"]);
        assert!(s.apply("~foo").is_err(), "a pattern after allkeys");
        assert_eq!(s.describe_keys(), "~*");
    }

    #[test]
    fn channels_match_as_patterns_and_psubscribe_literally() {
        let s = selector(&["&news.*"]);
        assert!(s.allows_channel(b"news.today", false));
        assert!(!s.allows_channel(b"news.today", true));
        assert!(s.allows_channel(b"news.*", true));
        assert!(!s.allows_channel(b"sports", false));
        assert_eq!(s.describe(), "resetchannels &news.* -@all");
        assert_eq!(Selector::everything().describe(), "~* &* +@all");
        assert!(Selector::everything().unrestricted());
    }
}
