//! The sandbox's error: a kind a caller can match on, and a message that
//! says what failed and where (the file, the policy, the call).

use std::fmt;

/// What kind of thing went wrong.
///
/// ```
/// use goldylox_sandbox::{ErrorKind, Runtime};
/// let sandbox = Runtime::new()?;
/// let e = sandbox.eviction_policy("no/such/file.wasm", &[]).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Io);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The runtime could not be set up: the wasmtime engine, its artifact
    /// cache, or a thread.
    Runtime,
    /// A component file could not be read.
    Io,
    /// The bytes are not a component this sandbox accepts: too large, a core
    /// module, invalid, or too slow to compile.
    Invalid,
    /// The component imports what the sandbox does not provide, exports none
    /// of the policy worlds, or exports another world than the one asked for.
    World,
    /// A name that is neither a built-in policy nor a component built in.
    Unknown,
    /// The policy could not be built: it refused its parameters, or
    /// instantiating or `init` failed.
    Init,
    /// A call into the policy failed: a trap, the deadline, the memory cap.
    Call,
    /// `check` found the policy breaking its contract.
    Check,
}

/// An error of the sandbox.
///
/// `Display` gives the whole message, outermost context first; the
/// alternate form (`{:#}`) is the same. [`Error::kind`] says what kind of
/// failure it is.
///
/// ```
/// use goldylox_sandbox::Runtime;
/// let sandbox = Runtime::new()?;
/// let e = sandbox.eviction_policy("wasm:nope", &[]).unwrap_err();
/// eprintln!("{e}"); // what failed, and the names that would have worked
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
pub struct Error {
    kind: ErrorKind,
    inner: anyhow::Error,
}

impl Error {
    /// What kind of failure this is.
    ///
    /// ```
    /// use goldylox_sandbox::{ErrorKind, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let e = sandbox.load("junk", b"not wasm").unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Invalid);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn new(kind: ErrorKind, inner: impl Into<anyhow::Error>) -> Error {
        Error {
            kind,
            inner: inner.into(),
        }
    }

    pub(crate) fn msg(kind: ErrorKind, message: impl fmt::Display) -> Error {
        Error::new(kind, anyhow::anyhow!("{message}"))
    }

    /// The same error, with `what` said before its message.
    pub(crate) fn within(self, what: impl fmt::Display + Send + Sync + 'static) -> Error {
        Error {
            kind: self.kind,
            inner: self.inner.context(what),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &format_args!("{:#}", self.inner))
            .finish()
    }
}

impl std::error::Error for Error {}

/// A result whose error is the sandbox's.
///
/// ```
/// fn load_s3fifo() -> goldylox_sandbox::Result<goldylox_sandbox::Loaded> {
///     goldylox_sandbox::Runtime::new()?.load_spec("wasm:s3fifo")
/// }
/// assert_eq!(load_s3fifo()?.name, "s3fifo");
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Gives a foreign error its kind.
pub(crate) trait Classify<T> {
    /// `Err(e)` becomes an [`Error`] of `kind`.
    fn kind(self, kind: ErrorKind) -> Result<T>;

    /// `Err(e)` becomes an [`ErrorKind::Call`] error of the call named.
    fn in_call(self, call: &'static str) -> Result<T>
    where
        Self: Sized,
    {
        self.kind(ErrorKind::Call).map_err(|e| e.within(call))
    }
}

impl<T, E: Into<anyhow::Error>> Classify<T> for std::result::Result<T, E> {
    fn kind(self, kind: ErrorKind) -> Result<T> {
        self.map_err(|e| Error::new(kind, e))
    }
}
