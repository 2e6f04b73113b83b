//! Credentials: email normalisation, password hashing (argon2id), bearer tokens.
//!
//! A token is 32 random bytes, hex-encoded, handed to the client once. The server stores only
//! its SHA-256 hash, so a leaked database does not leak usable tokens. Tokens are never
//! logged: [`Token`]'s `Debug` is redacted and [`TokenHash`] is the only form passed around.

use std::fmt;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Passwords shorter than this are refused at registration.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer passwords are refused too: argon2 cost grows with the input.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// RFC 5321 limit on an address.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest device name kept with a token (longer names are cut).
pub const MAX_DEVICE_NAME_CHARS: usize = 100;

/// A freshly issued bearer token (the secret). Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 32 bytes from the thread-local CSPRNG (ChaCha, seeded from the OS).
    pub fn generate() -> Self {
        Token(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a bearer token: the only form of a token the server keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate in a debugger; the hash is not a secret anyway.
        write!(f, "TokenHash({}..)", &self.to_hex()[..8])
    }
}

/// Trims and lowercases an email and checks its basic shape: one `@`, a non-empty local
/// part, a domain with a dot, no whitespace, at most 254 characters.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("email is required");
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err("email is longer than 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("email must not contain spaces");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("email must contain `@`");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("email must have exactly one `@` with a name before it");
    }
    let labels_ok = domain.split('.').all(|label| !label.is_empty());
    if !domain.contains('.') || !labels_ok {
        return Err("email domain must look like example.com");
    }
    Ok(email)
}

/// Registration rule: at least 8 characters (Unicode scalar values), at most 1 KiB.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Device names are free text for the user's own token list: control characters dropped
/// (they would end up in other devices' views, and PostgreSQL's text cannot hold a NUL),
/// trimmed and cut to 100 chars.
pub fn clean_device_name(name: Option<&str>) -> Option<String> {
    let name: String = name?.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.chars().take(MAX_DEVICE_NAME_CHARS).collect())
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Argon2id with the crate's default (OWASP) parameters, PHC string format. CPU-heavy:
/// call from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks `password` against a stored PHC hash; `None` runs a check against a dummy hash so
/// an unknown email costs the same time as a wrong password. CPU-heavy: `spawn_blocking`.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy_hash = || {
        DUMMY
            .get_or_init(|| hash_password("dummy password for timing").unwrap_or_default())
            .as_str()
    };
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 64);
        assert_eq!(a.hash(), TokenHash::of(&a.clone().into_string()));
        assert_ne!(a.hash(), b.hash());
        // Known SHA-256 vector.
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let debug = format!("{a:?} {:?}", a.hash());
        assert!(!debug.contains(&a.0), "token leaked into Debug: {debug}");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "ann@example..com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn password_rules() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password("ééééééé").is_err());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("wrong horse", Some(&hash)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("x", Some("not a phc string")));
    }

    #[test]
    fn device_names_are_cleaned() {
        assert_eq!(clean_device_name(Some("  laptop ")), Some("laptop".into()));
        assert_eq!(clean_device_name(Some("   ")), None);
        assert_eq!(clean_device_name(None), None);
        assert_eq!(
            clean_device_name(Some("lap\0top\n\u{7}")),
            Some("laptop".into())
        );
        assert_eq!(clean_device_name(Some("\0 \t")), None);
        assert_eq!(
            clean_device_name(Some(&"x".repeat(300))).unwrap().len(),
            100
        );
    }
}
