//! Password hashing: Argon2id with the OWASP minimum parameters (m = 19 MiB, t = 2, p = 1), sized
//! for a 2-core pod: one hash takes one core for tens of milliseconds and 19 MiB of memory. Hashes
//! run on tokio's blocking threads behind a semaphore of [`HASHING_PERMITS`], so a burst of logins
//! queues (at most [`MAX_QUEUED`] requests for at most [`QUEUE_WAIT`], then `Busy`) instead of
//! taking every core from chat delivery.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
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
    /// A hash of a random password: verified against when the user does not exist, so that
    /// "no such user" takes as long as "wrong password".
    dummy: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashes any password of our lengths")
        .to_string()
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Default for Hasher {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(HASHING_PERMITS)),
            queued: Arc::default(),
            dummy: hash_now(&super::token::new_token()).into(),
        }
    }
}

impl Hasher {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
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
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| Busy)
    }

    /// The Argon2id PHC string of `password`, with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let password = password.to_owned();
        self.blocking(move || hash_now(&password)).await
    }

    /// Whether `password` matches `hash`; with no hash (no such user) a dummy hash is verified
    /// so the answer takes as long, and is false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Busy> {
        let password = password.to_owned();
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        self.blocking(move || verify_now(&password, &hash) && real)
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
