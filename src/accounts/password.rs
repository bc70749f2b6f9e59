//! Password hashing: argon2id with the library's recommended parameters (19 MiB, 2 passes).
//!
//! Each hash or check holds ~19 MiB and a core for tens of milliseconds, so every one goes
//! through [`Hasher`]: a few at a time (two per core), on the blocking pool, and a request that
//! cannot get a turn within [`QUEUE_WAIT`] is answered "busy" instead of piling up memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

pub fn verify(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so both cases take as long.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password, only for timing").unwrap_or_default())
}

/// How long a request waits for a turn before it is told the shop is busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Why no hash was computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every permit stayed taken for [`QUEUE_WAIT`]: answer 503, try again shortly.
    #[error("too many password hashes at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Runs password hashes and checks a few at a time (see the module doc).
#[derive(Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    size: usize,
    computed: AtomicU64,
}

impl Hasher {
    pub fn new(permits: usize) -> Self {
        let size = permits.max(1);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            computed: AtomicU64::new(0),
        }
    }

    /// Two hashes per core: enough to keep the cores busy, ~40 MiB per core at most.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(2 * cores)
    }

    /// How many may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The permits themselves: tests take them all to see what a saturated shop answers.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.permits
    }

    /// Hashes and checks started so far (argon2 runs), for tests and metrics.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || hash(&password).map_err(|e| HashError::Failed(e.to_string())))
            .await
    }

    /// Whether `password` matches `stored` (an unparsable hash matches nothing). With no stored
    /// hash (no such account) it checks against [`dummy_hash`] and says no, taking as long.
    pub async fn verify(
        &self,
        stored: Option<String>,
        password: String,
    ) -> Result<bool, HashError> {
        self.run(move || {
            Ok(match stored {
                Some(stored) => verify(&stored, &password),
                None => {
                    let _ = verify(dummy_hash(), &password);
                    false
                }
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        self.computed.fetch_add(1, Ordering::Relaxed);
        actix_web::web::block(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(super::verify(&h, "correct horse battery"));
        assert!(!super::verify(&h, "wrong horse battery"));
        assert!(!super::verify("garbage", "x"));
    }

    #[actix_web::test]
    async fn a_saturated_hasher_answers_busy_instead_of_queueing_forever() {
        let hasher = Hasher::new(2);
        let held = hasher
            .semaphore()
            .clone()
            .acquire_many_owned(2)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let res = hasher.hash("correct horse battery".into()).await;
        assert!(matches!(res, Err(HashError::Busy)), "{res:?}");
        assert!(started.elapsed() >= QUEUE_WAIT);
        assert_eq!(hasher.computed(), 0, "nothing was hashed");
        drop(held);
        let h = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(
            hasher
                .verify(Some(h), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert_eq!(hasher.computed(), 2);
    }
}
