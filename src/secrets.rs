//! Secrets: generated, shown once, stored as hashes.
//!
//! Keys and tokens are 32 random alphanumerics (190 bits), so a plain SHA-256 is a safe
//! and fast lookup hash for them. Passwords are chosen by people: argon2id.

use argon2::password_hash::{
    rand_core::OsRng as HashRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Length of generated keys and tokens.
pub const SECRET_LEN: usize = 32;

/// How many leading characters of a secret are kept in clear to tell keys apart.
pub const PREFIX_LEN: usize = 6;

/// A new random secret of `SECRET_LEN` ASCII letters and digits.
pub fn generate() -> String {
    Alphanumeric.sample_string(&mut OsRng, SECRET_LEN)
}

/// A generated password: 20 letters and digits.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut OsRng, 20)
}

/// The SHA-256 of a secret, as 32 bytes.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The stored form of a key or token: lowercase hex SHA-256.
pub fn hash(secret: &str) -> String {
    hex(&digest(secret))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The display prefix kept beside the hash.
pub fn prefix(secret: &str) -> String {
    secret.chars().take(PREFIX_LEN).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An argon2id PHC string for a password.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut HashRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_alphanumeric_and_distinct() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), SECRET_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("correct horse");
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("correct horsE", &stored));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
