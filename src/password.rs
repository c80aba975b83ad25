//! Passwords: hashed with Argon2id (the `argon2` crate's defaults, OWASP's recommended
//! parameters: 19 MiB, 2 passes, 1 lane) into a PHC string with a random salt, and checked in
//! constant time. Only the hash is ever stored; the plain text lives in a [`SecretString`].

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};

/// Hashes `password` for storage.
pub fn hash(password: &SecretString) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash a password: {e}"))
}

/// Whether `password` matches the stored `hash`; a malformed hash matches nothing.
pub fn verify(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_checks_its_password_only() {
        let pw = SecretString::from("correct horse battery staple");
        let h = hash(&pw).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct"));
        assert!(verify(&pw, &h));
        assert!(!verify(
            &SecretString::from("correct horse battery stapl"),
            &h
        ));
        assert!(!verify(&pw, "not a hash"));
    }

    #[test]
    fn salts_differ() {
        let pw = SecretString::from("same password");
        assert_ne!(hash(&pw).unwrap(), hash(&pw).unwrap());
    }
}
