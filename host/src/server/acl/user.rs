//! A user: whether it may log in, with which passwords (kept as SHA-256
//! hashes, never in clear), and its selectors. `ACL SETUSER` applies its
//! rules to a copy and keeps it only if every rule applied.

use sha2::{Digest, Sha256};

use super::selector::{Refusal, Request, RuleError, SYNTAX, Selector};

/// One user.
#[derive(Debug, Clone)]
pub struct User {
    /// Its name.
    pub name: String,
    /// `on`: it may authenticate.
    pub enabled: bool,
    /// `nopass`: any password authenticates it.
    pub nopass: bool,
    /// SHA-256 hashes of its passwords, in lower-case hex, in the order
    /// they were added.
    passwords: Vec<String>,
    /// Its root permissions.
    pub root: Selector,
    /// Further selectors: a command runs if the root or any allows it.
    selectors: Vec<Selector>,
}

/// The hex SHA-256 of `password`, as `ACL GETUSER` shows it.
pub fn hash(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no passwords,
    /// nothing allowed.
    pub fn new(name: &str) -> Self {
        User {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            root: Selector::default(),
            selectors: Vec::new(),
        }
    }

    /// The `default` user of a server without `requirepass`: on, no
    /// password, everything allowed.
    pub fn default_user() -> Self {
        User {
            enabled: true,
            nopass: true,
            root: Selector::everything(),
            ..User::new("default")
        }
    }

    /// Applies `rules` in order (an argument starting with `(` opens a
    /// selector that runs to the argument ending with `)`); on an error,
    /// the failing rule and the reason.
    pub fn apply_all(&mut self, rules: &[String]) -> Result<(), (String, RuleError)> {
        let mut i = 0;
        while i < rules.len() {
            let rule = &rules[i];
            if rule.starts_with('(') {
                // A selector may arrive split at its spaces.
                let mut text = rule.clone();
                while !text.ends_with(')') && i + 1 < rules.len() {
                    i += 1;
                    text.push(' ');
                    text.push_str(&rules[i]);
                }
                self.add_selector(&text).map_err(|e| (text.clone(), e))?;
            } else {
                self.apply(rule).map_err(|e| (rule.clone(), e))?;
            }
            i += 1;
        }
        Ok(())
    }

    fn add_selector(&mut self, text: &str) -> Result<(), RuleError> {
        let inner = text
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .ok_or("Unmatched parenthesis in acl selector starting at '('.")?;
        let mut selector = Selector::default();
        for rule in inner.split_ascii_whitespace() {
            if !selector.apply(rule)? {
                return Err(SYNTAX);
            }
        }
        self.selectors.push(selector);
        Ok(())
    }

    /// Applies one rule of the user's own or of its root selector.
    pub fn apply(&mut self, rule: &str) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                *self = User {
                    selectors: Vec::new(),
                    ..User::new(&self.name)
                };
            }
            _ => return self.apply_password_or_selector(rule),
        }
        Ok(())
    }

    fn apply_password_or_selector(&mut self, rule: &str) -> Result<(), RuleError> {
        const NO_SUCH: RuleError =
            "The password you are trying to remove from the user does not exist";
        if let Some(password) = rule.strip_prefix('>') {
            self.add_hash(hash(password.as_bytes()));
        } else if let Some(password) = rule.strip_prefix('<') {
            self.remove_hash(&hash(password.as_bytes()))
                .ok_or(NO_SUCH)?;
        } else if let Some(h) = rule.strip_prefix('#') {
            self.add_hash(valid_hash(h)?);
        } else if let Some(h) = rule.strip_prefix('!') {
            self.remove_hash(&valid_hash(h)?).ok_or(NO_SUCH)?;
        } else if !self.root.apply(rule)? {
            return Err(SYNTAX);
        }
        Ok(())
    }

    fn add_hash(&mut self, h: String) {
        self.nopass = false;
        if !self.passwords.contains(&h) {
            self.passwords.push(h);
        }
    }

    fn remove_hash(&mut self, h: &str) -> Option<()> {
        let at = self.passwords.iter().position(|p| p == h)?;
        self.passwords.remove(at);
        Some(())
    }

    /// Whether `password` logs this user in.
    pub fn accepts(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&hash(password)))
    }

    /// The password hashes, as `ACL GETUSER` lists them.
    pub fn password_hashes(&self) -> &[String] {
        &self.passwords
    }

    /// The selectors beside the root.
    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// Checks a request: allowed if the root or any selector allows all of
    /// it; otherwise the root's refusal (Redis reports the root's, or the
    /// most specific a selector gave).
    pub fn check(&self, request: &Request<'_>) -> Result<(), Refusal> {
        let root = self.root.check(request);
        if root.is_ok() {
            return root;
        }
        let mut refusal = root.unwrap_err();
        for selector in &self.selectors {
            match selector.check(request) {
                Ok(()) => return Ok(()),
                // A selector that got past the command names what stopped it.
                Err(r) if refusal == Refusal::Command => refusal = r,
                Err(_) => {}
            }
        }
        Err(refusal)
    }

    /// Whether the root or a selector allows `channel` (a pattern itself,
    /// matched literally, when `literal`).
    pub fn allows_channel(&self, channel: &[u8], literal: bool) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.allows_channel(channel, literal))
    }

    /// Whether every command, key and channel is allowed: no check needed.
    pub fn unrestricted(&self) -> bool {
        self.root.unrestricted()
    }

    /// The line `ACL LIST` shows and the ACL file holds.
    pub fn describe(&self) -> String {
        let mut words = vec![
            "user".to_owned(),
            self.name.clone(),
            if self.enabled { "on" } else { "off" }.to_owned(),
        ];
        if self.nopass {
            words.push("nopass".to_owned());
        }
        words.extend(self.passwords.iter().map(|h| format!("#{h}")));
        words.push(self.root.describe());
        words.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        words.join(" ")
    }
}

/// `#hash`'s argument, if it is 64 lower-case hex digits.
fn valid_hash(h: &str) -> Result<String, RuleError> {
    if h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(h.to_owned())
    } else {
        Err(
            "The password hash must be exactly 64 characters and contain only lowercase \
             hexadecimal characters",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn passwords_are_kept_hashed_and_checked() {
        let mut u = User::new("u");
        u.apply_all(&rules(&[">passwd1", ">passwd2"])).unwrap();
        assert!(!u.accepts(b"passwd1"), "new users start disabled");
        u.apply("on").unwrap();
        assert!(u.accepts(b"passwd1") && u.accepts(b"passwd2") && !u.accepts(b"x"));
        u.apply("<passwd1").unwrap();
        assert!(!u.accepts(b"passwd1"));
        assert!(u.apply("<passwd1").is_err(), "removing a missing password");
        let h = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        u.apply(&format!("#{h}")).unwrap();
        assert!(u.accepts(b"password"));
        assert!(u.apply(&format!("#{}", &h[1..])).is_err(), "63 digits");
        assert!(!u.describe().contains("passwd2"));
        u.apply("nopass").unwrap();
        assert!(u.accepts(b"anything") && u.password_hashes().is_empty());
    }

    #[test]
    fn the_description_rebuilds_the_user() {
        let mut u = User::new("u1");
        let set = rules(&[
            "on",
            ">p1",
            "~cache:*",
            "%R~ro:*",
            "&ch:*",
            "+@hash",
            "-hset",
            "+get",
            "+client|list",
            "(+set",
            "%W~app*)",
        ]);
        u.apply_all(&set).unwrap();
        let line = u.describe();
        assert_eq!(
            line,
            format!(
                "user u1 on #{} ~cache:* %R~ro:* resetchannels &ch:* -@all +@hash -hset +get \
                 +client|list (%W~app* resetchannels -@all +set)",
                hash(b"p1")
            )
        );
        let words: Vec<String> = line.split(' ').skip(2).map(str::to_owned).collect();
        let mut again = User::new("u1");
        again.apply_all(&words).unwrap();
        assert_eq!(again.describe(), line);
        assert_eq!(
            User::new("u2").describe(),
            "user u2 off resetchannels -@all"
        );
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
    }

    #[test]
    fn bad_rules_say_which_and_why() {
        let mut u = User::new("u");
        assert_eq!(
            u.apply_all(&rules(&["on", "foo"])),
            Err(("foo".into(), SYNTAX))
        );
        assert_eq!(u.apply("@list"), Err(SYNTAX));
        assert!(u.apply_all(&rules(&["(+get"])).is_err());
    }
}
