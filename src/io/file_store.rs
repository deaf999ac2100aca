//! (std) [`FileStore`]: one token for the processes of one machine, in a file only its owner
//! can read.
//!
//! # How it works
//!
//! The state (version, token, expiry, refresh lease) is one small text file, `PATH`.
//! Writers serialize on an OS file lock (`flock` on Unix) of `PATH.lock`, taken with a
//! bounded wait; they write the new state to a temporary file in the same directory, flush
//! it to disk, and rename it over `PATH`, so a reader (which takes no lock) sees the old
//! state or the new one, never half of one. The OS drops a dead process's file lock; its
//! refresh lease, a wall-clock deadline in the file, ends on its own after the lease time.
//!
//! # Where the token lives
//!
//! `PATH`, `PATH.lock` and the temporary files are created with mode `0600` (Unix), and
//! [`FileStore::open`] creates a missing directory with mode `0700`. It refuses a directory
//! that others may write to (such as `/tmp` itself: someone else could put a file or a link
//! in the token's place) and an existing state file that others may read. Use a directory of
//! your own (`$XDG_RUNTIME_DIR/my-app/`, `/run/my-app/`, `/var/lib/my-app/`).
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | wait for the write lock | [`FileStore::with_lock_timeout`] (default 500 ms), then [`StoreError::Timeout`] |
//! | state file read | 4 KiB |

use core::fmt;
use core::time::Duration;
use std::format;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};

use crate::auth::store::{expiry_ms, remaining_at};
use crate::auth::{
    AccessToken, ExportedToken, Lease, StoreError, StoreSnapshot, StoreVersion, TokenStore,
};

/// The first line of a state file.
const MAGIC: &str = "mtls-token-store 1";
/// Longest state file read (a 512-byte token and a few numbers fit many times over).
const MAX_STATE_LEN: u64 = 4096;

/// A [`TokenStore`] in a file, for the processes of one machine (see the
/// [module docs](self) for the locking and the file modes).
///
/// ```no_run
/// use std::sync::Arc;
/// use mtls_core::auth::{CachePolicy, StoreOptions, TokenCache};
/// use mtls_core::io::file_store::FileStore;
///
/// let store = FileStore::open("/run/my-app/mtls-token")?;
/// let cache = TokenCache::with_store(CachePolicy::new(), Arc::new(store), StoreOptions::new());
/// // config.token_cache = cache; every process doing the same shares one token.
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// What the state file says.
#[derive(Default)]
struct FileState {
    version: u64,
    /// The token and its expiry (ms since the Unix epoch).
    token: Option<(AccessToken, u64)>,
    /// The lease holder and the end of its lease (ms since the Unix epoch).
    lease: Option<(u64, u64)>,
}

impl FileStore {
    /// 500 ms.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(500);

    /// A store at `path` (created on first write). Creates a missing parent directory with
    /// mode `0700`.
    ///
    /// # Errors
    /// The directory cannot be created or read; on Unix, it is writable by others, or the
    /// state file exists and is readable or writable by others
    /// ([`std::io::ErrorKind::PermissionDenied`], with what to fix).
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<FileStore> {
        let path = path.as_ref().to_path_buf();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir)?.permissions().mode();
            if mode & 0o022 != 0 {
                return Err(refused(
                    &dir,
                    "is writable by other users: use a directory of your own (mode 0700)",
                ));
            }
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if !meta.file_type().is_file() {
                    return Err(refused(&path, "is not a regular file"));
                }
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(refused(
                        &path,
                        "is open to other users: chmod 600 it, or remove it",
                    ));
                }
            }
        }
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        Ok(FileStore {
            path,
            lock_path: PathBuf::from(lock_path),
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
        })
    }

    /// How long a write waits for another process's write to finish.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> FileStore {
        self.lock_timeout = timeout;
        self
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `change` on the state under the write lock, and writes it back when it says so.
    fn update<T>(&self, change: impl FnOnce(&mut FileState) -> (bool, T)) -> Result<T, StoreError> {
        let lock = private_file(&self.lock_path, false).map_err(unavailable)?;
        let deadline = std::time::Instant::now() + self.lock_timeout;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Timeout);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(unavailable(e)),
            }
        }
        let mut state = self.read()?;
        let (write, answer) = change(&mut state);
        if write {
            self.write(&state)?;
        }
        // Dropping `lock` closes it, which releases the lock.
        drop(lock);
        Ok(answer)
    }

    fn read(&self) -> Result<FileState, StoreError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::default()),
            Err(e) => return Err(unavailable(e)),
        };
        let mut text = zeroize::Zeroizing::new(String::new());
        file.take(MAX_STATE_LEN)
            .read_to_string(&mut text)
            .map_err(unavailable)?;
        parse(&text)
    }

    fn write(&self, state: &FileState) -> Result<(), StoreError> {
        let mut text = zeroize::Zeroizing::new(String::new());
        text.push_str(MAGIC);
        text.push_str("\nversion ");
        text.push_str(&state.version.to_string());
        if let Some((token, expires)) = &state.token {
            text.push_str("\ntoken ");
            text.push_str(token.expose());
            text.push_str("\nexpires_ms ");
            text.push_str(&expires.to_string());
        }
        if let Some((holder, until)) = state.lease {
            text.push_str("\nlease ");
            text.push_str(&holder.to_string());
            text.push(' ');
            text.push_str(&until.to_string());
        }
        text.push('\n');
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        // A leftover from a process with the same id that died mid-write.
        let _ = std::fs::remove_file(&tmp);
        let written = (|| {
            let mut file = private_file(&tmp, true)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(unavailable(e));
        }
        Ok(())
    }
}

impl TokenStore for FileStore {
    fn load(&self, now: Duration) -> Result<StoreSnapshot, StoreError> {
        let state = self.read()?;
        let token = state.token.and_then(|(token, expires)| {
            remaining_at(expires, now).map(|left| ExportedToken::new(token, left))
        });
        Ok(StoreSnapshot {
            version: StoreVersion(state.version),
            token,
        })
    }

    fn compare_and_replace(
        &self,
        expected: StoreVersion,
        token: Option<&ExportedToken>,
        now: Duration,
    ) -> Result<Option<StoreVersion>, StoreError> {
        self.update(|state| {
            if state.version != expected.0 {
                return (false, None);
            }
            state.version = state.version.wrapping_add(1);
            state.token = token.map(|t| (t.token().clone(), expiry_ms(t, now)));
            (true, Some(StoreVersion(state.version)))
        })
    }

    fn try_lease(&self, holder: u64, lease: Duration, now: Duration) -> Result<Lease, StoreError> {
        let now_ms = millis(now);
        self.update(|state| match state.lease {
            Some((other, until)) if other != holder && until > now_ms => (
                false,
                Lease::Held {
                    for_at_most: Duration::from_millis(until - now_ms),
                },
            ),
            _ => {
                state.lease = Some((holder, millis(now.saturating_add(lease))));
                (true, Lease::Granted)
            }
        })
    }

    fn release(&self, holder: u64, _now: Duration) -> Result<(), StoreError> {
        self.update(|state| {
            if state.lease.is_some_and(|(h, _)| h == holder) {
                state.lease = None;
                (true, ())
            } else {
                (false, ())
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Opens (creating it with mode 0600) a file for writing; `new` insists it did not exist.
fn private_file(path: &Path, new: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn parse(text: &str) -> Result<FileState, StoreError> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(StoreError::Corrupt("not a token store file (first line)"));
    }
    let mut state = FileState::default();
    let mut token = None;
    let mut expires = None;
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "version" => state.version = number(value, "version")?,
            "token" => {
                token = Some(
                    AccessToken::new(value)
                        .map_err(|_| StoreError::Corrupt("token is not a valid access token"))?,
                );
            }
            "expires_ms" => expires = Some(number(value, "expires_ms")?),
            "lease" => {
                let (holder, until) = value
                    .split_once(' ')
                    .ok_or(StoreError::Corrupt("lease line"))?;
                state.lease = Some((number(holder, "lease")?, number(until, "lease")?));
            }
            "" => {}
            _ => return Err(StoreError::Corrupt("unknown line")),
        }
    }
    state.token = match (token, expires) {
        (Some(token), Some(expires)) => Some((token, expires)),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(
                "token without expiry, or expiry without token",
            ))
        }
    };
    Ok(state)
}

fn number(text: &str, what: &'static str) -> Result<u64, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(what))
}

fn unavailable(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[cfg(unix)]
fn refused(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("token store {}: {why}", path.display()),
    )
}
