//! Passwords (Argon2id) and access tokens (JWT, HS256 pinned).
//!
//! Hashing is CPU-heavy on purpose, so callers on the async runtime use the
//! `*_blocking` wrappers, which move it to the blocking pool.

use std::fmt;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// Who issues and who accepts our tokens.
pub const ISSUER: &str = "linewise";
pub const AUDIENCE: &str = "linewise-api";
/// The shortest password we accept.
pub const MIN_PASSWORD_LEN: usize = 12;

/// A secret that `Debug` and `Display` never print.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A random URL-safe string of `n` characters.
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Hashes a password with Argon2id (m = 19 MiB, t = 2, p = 1).
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .expect("argon2 hashing with default parameters cannot fail")
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Bounds the password checks of sign-ins: one per core at a time, and at
/// most `queue` more waiting for a turn. A check beyond that is refused at
/// once, so a flood of sign-ins can neither take every core and the memory
/// each Argon2 check needs (19 MiB) nor make a real sign-in wait long.
#[derive(Clone)]
pub struct PasswordChecks {
    turns: std::sync::Arc<tokio::sync::Semaphore>,
    places: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Every place in the password-check queue is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl PasswordChecks {
    pub fn new(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_turns(cores, queue)
    }

    fn with_turns(turns: usize, queue: usize) -> Self {
        PasswordChecks {
            turns: std::sync::Arc::new(tokio::sync::Semaphore::new(turns)),
            places: std::sync::Arc::new(tokio::sync::Semaphore::new(turns + queue)),
        }
    }

    /// Runs `work` on the blocking pool when its turn comes, or refuses it
    /// at once when the queue is full. The turn is held until `work` ends,
    /// even if the caller stops waiting.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, QueueFull> {
        self.run_as(false, work).await
    }

    /// [`run`](Self::run); with `trusted` (a sign-in from an address the
    /// account signed in from before) the check waits for its turn even
    /// when the queue is full, so a flood cannot turn the owner away.
    pub async fn run_as<T: Send + 'static>(
        &self,
        trusted: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, QueueFull> {
        let place = match self.places.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if trusted => None,
            Err(_) => return Err(QueueFull),
        };
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| QueueFull)?;
        Ok(tokio::task::spawn_blocking(move || {
            let _held = (place, turn);
            work()
        })
        .await
        .expect("password check panicked"))
    }

    /// [`verify_password_blocking`] within the bounds (see [`run_as`](Self::run_as)).
    pub async fn verify(
        &self,
        trusted: bool,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, QueueFull> {
        self.run_as(trusted, move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
            verify_password(&password, &hash) && known
        })
        .await
    }
}

pub async fn hash_password_blocking(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("hashing task panicked")
}

/// Computes the fixed hash an unknown email is checked against, so the
/// first such login is not slower than the rest (call once at start).
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| DUMMY_HASH.len()).await;
}

/// Verifies off the async runtime. With `hash = None` (an unknown email) it
/// still does the work against a fixed hash, so both answers take as long.
pub async fn verify_password_blocking(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        verify_password(&password, &hash) && known
    })
    .await
    .expect("verification task panicked")
}

static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("linewise-timing-equaliser"));

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The user's token version when the token was issued; a password
    /// change or a deactivation bumps the stored one and so voids the token.
    /// Absent (tokens from before versions) reads as 0, the first version.
    #[serde(default)]
    pub ver: i64,
    /// Random: two sessions opened in the same second are still two
    /// tokens, so signing one out leaves the other.
    #[serde(default)]
    pub jti: String,
}

/// Whom a valid token names, the token version it carries, and when it
/// expires (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: i64,
    pub version: i64,
    pub expires_at: i64,
}

/// What a signed-out token is remembered by: the SHA-256 hex of the token,
/// so the revocation list holds nothing that could be used as a token.
pub fn token_fingerprint(token: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(token.as_bytes()) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Issues and checks access tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: i64,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &Secret, ttl_seconds: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl_seconds,
        }
    }

    /// A token for user `id` at token version `version`, and the instant it expires.
    pub fn issue(&self, user_id: i64, version: i64) -> (String, jiff::Timestamp) {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            ver: version,
            jti: random_token(16),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        let exp = jiff::Timestamp::from_second(claims.exp).unwrap_or(jiff::Timestamp::MAX);
        (token, exp)
    }

    /// Whom a valid token names; `None` for anything else (another key,
    /// another algorithm, `alg: none`, a `typ` other than `JWT`, expired,
    /// not yet valid, wrong issuer or audience). Whether its version is
    /// still current is the caller's check, against the store.
    pub fn verify(&self, token: &str) -> Option<TokenSubject> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        // RFC 8725 §3.11: only a token typed as ours is one.
        if data.header.alg != Algorithm::HS256 || data.header.typ.as_deref() != Some("JWT") {
            return None;
        }
        Some(TokenSubject {
            user_id: data.claims.sub.parse().ok()?,
            version: data.claims.ver,
            expires_at: data.claims.exp,
        })
    }
}

/// The JWT secret: the configured one, else one generated once and kept —
/// beside the SQLite file (mode 0600) or, on PostgreSQL, in the database so
/// every node shares it.
pub async fn load_or_create_secret(
    configured: Option<&Secret>,
    database_url: &str,
    store: &dyn Store,
) -> Result<Secret, SecretError> {
    if let Some(s) = configured {
        if s.expose().len() < 32 {
            return Err(SecretError::TooShort);
        }
        return Ok(s.clone());
    }
    if let Some(db) = crate::store::sqlite_path(database_url) {
        let path = secret_path(&db);
        return secret_file(&path);
    }
    let value = store
        .setting_or_insert("jwt_secret", &random_token(64))
        .await?;
    Ok(Secret::new(value))
}

/// Where the generated secret of a SQLite database is kept.
pub fn secret_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".jwt-secret");
    db.with_file_name(name)
}

fn secret_file(path: &Path) -> Result<Secret, SecretError> {
    use std::io::Write;
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_string();
        if s.len() >= 32 {
            return Ok(Secret::new(s));
        }
    }
    let value = random_token(64);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(Secret::new(value))
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("LINEWISE_JWT_SECRET must be at least 32 characters")]
    TooShort,
    #[error("cannot keep the JWT secret: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_hashes_are_argon2id() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        // An unknown email is checked against a hash of the same cost, so
        // its refusal takes as long as a wrong password's.
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_beyond_the_queue_are_refused_at_once() {
        let checks = PasswordChecks::with_turns(1, 2);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        // One check running (held until released), two waiting for a turn.
        let mut held = Vec::new();
        for _ in 0..3 {
            let checks = checks.clone();
            let rx = release_rx.clone();
            let started = started_tx.clone();
            held.push(tokio::spawn(async move {
                checks
                    .run(move || {
                        let _ = started.send(());
                        let _ = rx.lock().unwrap().recv();
                    })
                    .await
            }));
        }
        started_rx.recv().await.unwrap();
        // Wait until both waiters hold their places.
        while checks.places.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(checks.run(|| 1).await, Err(QueueFull));
        // A trusted check waits for its turn instead.
        let trusted = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.run_as(true, || 3).await })
        };
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        for h in held {
            assert_eq!(h.await.unwrap(), Ok(()));
        }
        assert_eq!(trusted.await.unwrap(), Ok(3));
        // Places are given back: the next check runs.
        assert_eq!(checks.run(|| 2).await, Ok(2));
    }

    #[test]
    fn tokens_round_trip_and_foreign_ones_fail() {
        let keys = TokenKeys::new(&Secret::new("a".repeat(40)), 3600);
        let (t, exp) = keys.issue(7, 3);
        assert_eq!(
            keys.verify(&t),
            Some(TokenSubject {
                user_id: 7,
                version: 3,
                expires_at: exp.as_second(),
            })
        );
        let other = TokenKeys::new(&Secret::new("b".repeat(40)), 3600);
        assert_eq!(other.verify(&t), None);
        let expired = TokenKeys::new(&Secret::new("a".repeat(40)), -3600);
        assert_eq!(keys.verify(&expired.issue(7, 0).0), None);
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
