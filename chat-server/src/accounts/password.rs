//! Password hashing: Argon2id with the OWASP minimum parameters (m = 19 MiB, t = 2, p = 1), sized
//! for a 2-core pod: one hash takes one core for tens of milliseconds and 19 MiB of memory. Hashes
//! run on tokio's blocking threads behind a semaphore of [`HASHING_PERMITS`], so a burst of logins
//! queues (at most [`MAX_QUEUED`] requests for at most [`QUEUE_WAIT`], then `Busy`) instead of
//! taking every core from chat delivery.
//!
//! The 19 MiB of working memory come from a pool of at most [`HASHING_PERMITS`] buffers, made on
//! first use and reused. Allocating them per hash, as the crate's `hash_password` does, left the
//! memory with the allocator's per-thread arenas of the blocking threads: 200 sign-ups grew a
//! replica from 9 MiB to 772 MiB that it never gave back, so a login burst could get a pod killed
//! at its memory limit. Now hashing holds at most 2 x 19 MiB, whatever the burst.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString},
};
use tokio::sync::Semaphore;

/// Hashes computed at once per replica.
pub const HASHING_PERMITS: usize = 2;
/// Requests waiting for a hashing slot at most; more are refused as busy at once.
pub const MAX_QUEUED: usize = 64;
/// Longest wait for a hashing slot before the request is refused as busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Argon2id memory cost in KiB, iterations and lanes.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// The hashing slots could not be had in time, or the hashing task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The bounded pool that hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Requests waiting for or holding a permit.
    queued: Arc<AtomicUsize>,
    /// Argon2 working memory not in use; a permit holder takes one (or makes it when none is
    /// left), so there are never more than [`HASHING_PERMITS`].
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// How many working memories were made (for the test of the bound).
    made: Arc<AtomicUsize>,
    /// A hash of a random password: verified against when the user does not exist, so that
    /// "no such user" takes as long as "wrong password".
    dummy: Arc<str>,
}

fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid Argon2 parameters")
}

/// Argon2id of `password` with a fresh random salt, as a PHC string, in `memory`.
fn hash_now(memory: &mut Vec<Block>, password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source is available");
    let salt_string = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = compute(&argon2, memory, password, &salt, Params::DEFAULT_OUTPUT_LEN)
        .expect("Argon2 hashes any password of our lengths");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("our parameters encode"),
        salt: Some(salt_string.as_salt()),
        hash: Some(hash),
    }
    .to_string()
}

/// Whether `password` matches the PHC string `hash`, computed in `memory` (the comparison of the
/// outputs is constant-time: `Output`'s `==`).
fn verify_now(memory: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    compute(&argon2, memory, password, salt, expected.len()).is_ok_and(|out| out == expected)
}

/// The raw Argon2 output of `len` bytes, in `memory` (grown when a stored hash asks for more).
fn compute(
    argon2: &Argon2<'_>,
    memory: &mut Vec<Block>,
    password: &str,
    salt: &[u8],
    len: usize,
) -> argon2::password_hash::Result<Output> {
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Output::init_with(len, |out| {
        Ok(argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut **memory)?)
    })
}

impl Default for Hasher {
    fn default() -> Self {
        let mut memory = Vec::new();
        let dummy = hash_now(&mut memory, &super::token::new_token()).into();
        Self {
            permits: Arc::new(Semaphore::new(HASHING_PERMITS)),
            queued: Arc::default(),
            memory: Arc::new(Mutex::new(vec![memory])),
            made: Arc::new(AtomicUsize::new(1)),
            dummy,
        }
    }
}

impl Hasher {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        /// Counts a request in the queue while it lives.
        struct InQueue(Arc<AtomicUsize>);
        impl Drop for InQueue {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED + HASHING_PERMITS {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Busy);
        }
        let in_queue = InQueue(self.queued.clone());
        let permit = tokio::time::timeout(QUEUE_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        drop(in_queue);
        let (pool, made) = (self.memory.clone(), self.made.clone());
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap().pop();
            let mut memory = taken.unwrap_or_else(|| {
                made.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            });
            let out = work(&mut memory);
            pool.lock().unwrap().push(memory);
            drop(permit);
            out
        })
        .await
        .map_err(|_| Busy)
    }

    /// The Argon2id PHC string of `password`, with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let password = password.to_owned();
        self.blocking(move |memory| hash_now(memory, &password))
            .await
    }

    /// Whether `password` matches `hash`; with no hash (no such user) a dummy hash is verified
    /// so the answer takes as long, and is false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Busy> {
        let password = password.to_owned();
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        self.blocking(move |memory| verify_now(memory, &password, &hash) && real)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let hasher = Hasher::default();
        let a = hasher.hash("correct horse").await.unwrap();
        let b = hasher.hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(!a.contains("correct horse"));
        assert!(hasher.verify("correct horse", Some(&a)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&a)).await.unwrap());
        assert!(
            !hasher
                .verify("correct horse", Some("garbage"))
                .await
                .unwrap()
        );
        let dummy = hasher.dummy.to_string();
        assert!(!hasher.verify("anything", None).await.unwrap());
        assert!(dummy.starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn hashes_of_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let hasher = Hasher::default();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        let theirs = argon2
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify("pass phrase", Some(&theirs)).await.unwrap());
        assert!(!hasher.verify("pass phrasE", Some(&theirs)).await.unwrap());
        let ours = hasher.hash("pass phrase").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2.verify_password(b"pass phrase", &parsed).is_ok());
        // A hash stored with more memory than a slot holds still verifies (the slot grows).
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(M_COST_KIB * 2, 1, 1, None).unwrap(),
        );
        let big = bigger
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify("pass phrase", Some(&big)).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_hashes_reuses_at_most_one_memory_per_permit() {
        let hasher = Hasher::default();
        let burst: Vec<_> = (0..12)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&format!("password {i}")).await })
            })
            .collect();
        for hash in burst {
            assert!(hash.await.unwrap().is_ok());
        }
        let made = hasher.made.load(Ordering::Relaxed);
        assert!(
            made <= HASHING_PERMITS,
            "{made} working memories for 12 hashes"
        );
        assert_eq!(hasher.memory.lock().unwrap().len(), made, "all returned");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let hasher = Hasher::default();
        let held = hasher.permits.clone().acquire_many_owned(2).await.unwrap();
        hasher
            .queued
            .store(MAX_QUEUED + HASHING_PERMITS, Ordering::Relaxed);
        assert_eq!(hasher.hash("whatever1").await, Err(Busy));
        hasher.queued.store(0, Ordering::Relaxed);
        drop(held);
        assert!(hasher.hash("whatever1").await.is_ok());
        assert_eq!(hasher.queued.load(Ordering::Relaxed), 0, "released");
    }
}
