//! Users and permissions, with Redis 7.0's model: users with passwords,
//! key patterns (`~pat`, `%R~pat`, `%W~pat`), channel patterns (`&pat`) and
//! command rules (`+cmd`, `-@category`, `+cmd|sub`), selectors, an ACL
//! file, and a log of denials. The `default` user is the one `AUTH
//! password` logs in and new connections start as; `requirepass` sets its
//! password.
//!
//! A connection keeps the user it authenticated as with the registry's
//! generation; any change to the users bumps it, and the connection takes
//! the user again at its next command, so changes apply at once and a
//! deleted user's connections are closed.

pub mod categories;
pub mod log;
pub mod selector;
pub mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use log::{AclLog, Context, Denial, Reason};
pub use selector::{Access, Refusal, Request};
pub use user::User;

/// The users and the log.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    generation: AtomicU64,
    /// The denials.
    log: Mutex<AclLog>,
    /// Denials counted by reason since the start or `CONFIG RESETSTAT`
    /// (`INFO stats`' `acl_access_denied_*`).
    denied: [AtomicU64; 4],
    file: Mutex<Option<PathBuf>>,
}

/// The user a connection is logged in as, and the generation it was taken
/// at.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: Arc<User>,
    generation: u64,
}

impl Session {
    /// Its user's name.
    pub fn name(&self) -> &str {
        &self.user.name
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Acl {
    /// The `default` user alone, with `password` if one is required.
    pub fn new(password: Option<&str>) -> Self {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            log: Mutex::new(AclLog::default()),
            denied: Default::default(),
            file: Mutex::new(None),
        };
        acl.users_mut()
            .insert("default".to_owned(), Arc::new(User::default_user()));
        acl.set_default_password(password);
        acl
    }

    /// The users of a configuration: the default user with `password`,
    /// and those of the ACL file at `file`, if one is configured (a file
    /// that does not load is an error naming the line at fault).
    pub fn configured(password: Option<&str>, file: &Option<PathBuf>) -> anyhow::Result<Self> {
        let acl = Acl::new(password);
        if let Some(path) = file {
            acl.set_file(Some(path.clone()));
            acl.load()
                .map_err(|e| anyhow::anyhow!("server.aclfile: {}", e.trim_start_matches("ERR ")))?;
        }
        Ok(acl)
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<User>>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The users, to change: the generation moves on when the change is
    /// done, still under the lock, so a connection that sees the new
    /// generation reads the new users.
    fn users_mut(&self) -> UsersMut<'_> {
        UsersMut {
            users: self.users.write().unwrap_or_else(|p| p.into_inner()),
            generation: &self.generation,
        }
    }

    /// `requirepass`: the default user's one password, or none (`nopass`).
    pub fn set_default_password(&self, password: Option<&str>) {
        let mut users = self.users_mut();
        let mut default = users
            .get("default")
            .map(|u| (**u).clone())
            .unwrap_or_else(User::default_user);
        let rules = match password {
            Some(p) => ["resetpass".to_owned(), format!(">{p}")].to_vec(),
            None => vec!["nopass".to_owned()],
        };
        default
            .apply_all(&rules)
            .expect("password rules always apply");
        users.insert("default".to_owned(), Arc::new(default));
    }

    /// The session of a new connection: the default user, and whether it
    /// is logged in without `AUTH` (the default user is on and `nopass`).
    pub fn start(&self) -> (Session, bool) {
        let session = self.session("default").expect("the default user exists");
        let implicit = session.user.enabled && session.user.nopass;
        (session, implicit)
    }

    fn session(&self, name: &str) -> Option<Session> {
        // The generation first: a change after it is seen at the next
        // refresh.
        let generation = self.generation.load(Ordering::Acquire);
        let user = Arc::clone(self.users().get(name)?);
        Some(Session { user, generation })
    }

    /// Whether the default user takes any password (`nopass`), as protected
    /// mode asks: a default user with a password, or off, lifts it.
    pub fn default_is_open(&self) -> bool {
        self.users().get("default").is_some_and(|u| u.nopass)
    }

    /// Logs in as `name` with `password`; `None` if the user does not
    /// exist, is off, or the password is wrong.
    pub fn authenticate(&self, name: &str, password: &[u8]) -> Option<Session> {
        self.session(name).filter(|s| s.user.accepts(password))
    }

    /// Takes `session`'s user again if the users changed since; `false` if
    /// it was deleted (the connection is then closed).
    pub fn refresh(&self, session: &mut Session) -> bool {
        if session.generation == self.generation.load(Ordering::Acquire) {
            return true;
        }
        match self.session(&session.user.name) {
            Some(fresh) => {
                *session = fresh;
                true
            }
            None => false,
        }
    }

    /// Counts and logs a denial.
    pub fn deny(&self, denial: Denial<'_>) {
        self.denied[denial.reason as usize].fetch_add(1, Ordering::Relaxed);
        lock(&self.log).add(denial);
    }

    /// The log of denials.
    pub fn log(&self) -> std::sync::MutexGuard<'_, AclLog> {
        lock(&self.log)
    }

    /// Denials by reason, as `INFO stats` names them.
    pub fn denied(&self) -> [(&'static str, u64); 4] {
        let n = |r: Reason| self.denied[r as usize].load(Ordering::Relaxed);
        [
            ("acl_access_denied_auth", n(Reason::Auth)),
            ("acl_access_denied_cmd", n(Reason::Command)),
            ("acl_access_denied_key", n(Reason::Key)),
            ("acl_access_denied_channel", n(Reason::Channel)),
        ]
    }

    /// `CONFIG RESETSTAT`: the denial counts start again from zero.
    pub fn reset_denied(&self) {
        self.denied
            .iter()
            .for_each(|d| d.store(0, Ordering::Relaxed));
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users().get(name).cloned()
    }

    /// `ACL SETUSER name rule …`: all the rules apply, or none.
    pub fn set_user(&self, name: &str, rules: &[String]) -> Result<(), String> {
        if name.bytes().any(|b| b == b' ' || b == 0) {
            return Err("ERR Usernames can't contain spaces or null characters".to_owned());
        }
        let mut user = self
            .user(name)
            .map(|u| (*u).clone())
            .unwrap_or_else(|| User::new(name));
        user.apply_all(rules)
            .map_err(|(rule, why)| format!("ERR Error in ACL SETUSER modifier '{rule}': {why}"))?;
        self.users_mut().insert(name.to_owned(), Arc::new(user));
        Ok(())
    }

    /// `ACL DELUSER name …`: how many existed.
    pub fn delete(&self, names: &[String]) -> Result<usize, String> {
        if names.iter().any(|n| n == "default") {
            return Err("ERR The 'default' user cannot be removed".to_owned());
        }
        let mut users = self.users_mut();
        Ok(names.iter().filter(|n| users.remove(*n).is_some()).count())
    }

    /// The users' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.users().keys().cloned().collect()
    }

    /// `ACL LIST`: each user's rules.
    pub fn describe(&self) -> Vec<String> {
        self.users().values().map(|u| u.describe()).collect()
    }

    /// Where `ACL SAVE` and `ACL LOAD` go (`aclfile`).
    pub fn set_file(&self, path: Option<PathBuf>) {
        *lock(&self.file) = path;
    }

    /// The ACL file, if one is configured.
    pub fn file(&self) -> Option<PathBuf> {
        lock(&self.file).clone()
    }

    /// `ACL LOAD` (and start-up with `aclfile`): replaces every user with
    /// the file's, or, if any line is wrong, changes nothing and says which.
    /// The default user stays as it is unless the file defines it.
    pub fn load(&self) -> Result<(), String> {
        let path = self.file().ok_or_else(no_file)?;
        let users = read_file(&path)?;
        let mut current = self.users_mut();
        let default = current.get("default").cloned();
        *current = users;
        if let Some(default) = default {
            current.entry("default".to_owned()).or_insert(default);
        }
        Ok(())
    }

    /// `ACL SAVE`: writes every user to the ACL file (a new file renamed
    /// over the old, so a crash leaves one or the other).
    pub fn save(&self) -> Result<(), String> {
        let path = self.file().ok_or_else(no_file)?;
        let mut text = String::new();
        for line in self.describe() {
            text.push_str(&line);
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("ERR There was an error trying to save the ACLs: {e}"))
    }
}

/// The users' write lock; dropping it publishes the change.
struct UsersMut<'a> {
    users: std::sync::RwLockWriteGuard<'a, BTreeMap<String, Arc<User>>>,
    generation: &'a AtomicU64,
}

impl std::ops::Deref for UsersMut<'_> {
    type Target = BTreeMap<String, Arc<User>>;
    fn deref(&self) -> &Self::Target {
        &self.users
    }
}

impl std::ops::DerefMut for UsersMut<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.users
    }
}

impl Drop for UsersMut<'_> {
    fn drop(&mut self) {
        // Runs before the guard field is dropped: the lock is still held.
        self.generation.fetch_add(1, Ordering::Release);
    }
}

fn no_file() -> String {
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify \
     users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a \
     Redis configuration file set) in order to store users in the Redis configuration."
        .to_owned()
}

/// Reads an ACL file: one `user name rule …` line per user; blank lines
/// are skipped.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, Arc<User>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("ERR Error loading ACLs from {}: {e}", path.display()))?;
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<String> = line.split_ascii_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            continue;
        }
        let at = |why: &str| format!("ERR {}:{}: {why}", path.display(), n + 1);
        if words[0] != "user" || words.len() < 2 {
            return Err(at("line should start with user keyword"));
        }
        let name = &words[1];
        if users.contains_key(name) {
            return Err(at(&format!("duplicate user '{name}' found")));
        }
        let mut user = User::new(name);
        user.apply_all(&words[2..])
            .map_err(|(rule, why)| at(&format!("Error in user declaration '{rule}': {why}")))?;
        users.insert(name.clone(), Arc::new(user));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn requirepass_is_the_default_users_password() {
        let acl = Acl::new(Some("secret"));
        let (session, implicit) = acl.start();
        assert!(!implicit && session.name() == "default");
        assert!(acl.authenticate("default", b"secret").is_some());
        assert!(acl.authenticate("default", b"wrong").is_none());
        acl.set_default_password(None);
        assert!(acl.start().1);
    }

    #[test]
    fn sessions_see_changes_and_deletions() {
        let acl = Acl::new(None);
        acl.set_user("u", &words(&["on", "nopass", "+get"]))
            .unwrap();
        let mut s = acl.authenticate("u", b"").unwrap();
        acl.set_user("u", &words(&["+set"])).unwrap();
        assert!(acl.refresh(&mut s));
        assert!(s.user.describe().contains("+set"));
        assert_eq!(acl.delete(&words(&["u", "nobody"])), Ok(1));
        assert!(!acl.refresh(&mut s));
        assert!(acl.delete(&words(&["default"])).is_err());
        let err = acl.set_user("u", &words(&["on", "bogus"])).unwrap_err();
        assert_eq!(
            err,
            "ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
        );
        assert!(acl.user("u").is_none(), "a failed SETUSER creates nothing");
    }

    #[test]
    fn the_file_is_saved_and_loaded_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.acl");
        let acl = Acl::new(None);
        acl.set_file(Some(path.clone()));
        acl.set_user("reader", &words(&["on", ">pw", "~*", "+@read"]))
            .unwrap();
        acl.save().unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(saved.contains("user reader on #"), "{saved}");
        acl.delete(&words(&["reader"])).unwrap();
        acl.load().unwrap();
        assert!(acl.authenticate("reader", b"pw").is_some());
        std::fs::write(&path, "user a on nopass\nuser b bogus\n").unwrap();
        let err = acl.load().unwrap_err();
        assert!(err.contains(":2:") && err.contains("bogus"), "{err}");
        assert!(acl.user("reader").is_some() && acl.user("a").is_none());
    }
}
