//! Where the account token lives: the OS keyring (service `legato`, user
//! `<server>|<email>|<client id>`, `legato_sync::account::credential_key`, shared with the
//! desktop app, so each data directory is its own device), or the file
//! `token` in the data directory, readable only by the user.
//!
//! `auto` uses the keyring and falls back to the file where no keyring service exists
//! (headless Linux without a Secret Service, for instance), saying so once on stderr; a
//! marker file in the data directory remembers that it did. `file` (`LEGATO_KEYRING=file`)
//! forces the file, for tests and headless machines. The token never goes anywhere else.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use legato_sync::account::credential_key;

use crate::cli::TokenStoreKind;
use crate::config::{Account, DataDir, write_atomic};

const SERVICE: &str = "legato";
const TOKEN_FILE: &str = "token";
const NOTICE_MARKER: &str = "token-file-notice";

/// Whether this build has a real keyring for the target (elsewhere the keyring crate would
/// silently use an in-memory mock that forgets everything at exit).
const NATIVE_KEYRING: bool = cfg!(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows"
));

/// The token of one account on one device.
#[derive(Debug)]
pub struct TokenStore {
    kind: TokenStoreKind,
    file: PathBuf,
    marker: PathBuf,
    user: String,
}

impl TokenStore {
    pub fn new(kind: TokenStoreKind, data: &DataDir, account: &Account, client_id: &str) -> Self {
        TokenStore {
            kind,
            file: data.file(TOKEN_FILE),
            marker: data.file(NOTICE_MARKER),
            user: credential_key(&account.server, &account.email, client_id),
        }
    }

    /// Saves the token, replacing any earlier one.
    pub fn save(&self, token: &str) -> Result<()> {
        match self.kind {
            TokenStoreKind::File => self.save_file(token),
            TokenStoreKind::Keyring => self.save_keyring(token),
            TokenStoreKind::Auto if !NATIVE_KEYRING => self.fall_back(token, "this platform"),
            TokenStoreKind::Auto => match self.entry()?.set_password(token) {
                Ok(()) => {
                    // A token from an earlier fallback must not shadow the keyring's.
                    remove_if_exists(&self.file)?;
                    Ok(())
                }
                Err(err) if unavailable(&err) => self.fall_back(token, &err.to_string()),
                Err(err) => Err(err).context("cannot save the token in the OS keyring"),
            },
        }
    }

    /// The saved token, if any.
    pub fn load(&self) -> Result<Option<String>> {
        if self.kind != TokenStoreKind::Keyring
            && let Some(token) = self.load_file()?
        {
            return Ok(Some(token));
        }
        if self.kind == TokenStoreKind::File || !NATIVE_KEYRING {
            return Ok(None);
        }
        match self.entry()?.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) if self.kind == TokenStoreKind::Auto && unavailable(&err) => Ok(None),
            Err(err) => Err(err).context("cannot read the token from the OS keyring"),
        }
    }

    /// Forgets the token wherever it is.
    pub fn delete(&self) -> Result<()> {
        remove_if_exists(&self.file)?;
        if self.kind == TokenStoreKind::File || !NATIVE_KEYRING {
            return Ok(());
        }
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) if self.kind == TokenStoreKind::Auto && unavailable(&err) => Ok(()),
            Err(err) => Err(err).context("cannot remove the token from the OS keyring"),
        }
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(SERVICE, &self.user).context("cannot open the OS keyring")
    }

    fn save_keyring(&self, token: &str) -> Result<()> {
        if !NATIVE_KEYRING {
            bail!("this build has no OS keyring for this platform: use --token-store file");
        }
        self.entry()?
            .set_password(token)
            .context("cannot save the token in the OS keyring")
    }

    fn fall_back(&self, token: &str, why: &str) -> Result<()> {
        tracing::debug!(%why, "no OS keyring; using the token file");
        self.save_file(token)?;
        if !self.marker.exists() {
            eprintln!(
                "note: no OS keyring is available ({why}); the login token is kept in {} \
                 (readable only by you). Set LEGATO_KEYRING=file to choose this explicitly.",
                self.file.display()
            );
            write_atomic(&self.marker, b"", false)?;
        }
        Ok(())
    }

    fn save_file(&self, token: &str) -> Result<()> {
        write_atomic(&self.file, token.as_bytes(), true)
    }

    fn load_file(&self) -> Result<Option<String>> {
        match fs::read_to_string(&self.file) {
            Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", self.file.display())),
        }
    }
}

/// The keyring service is missing or unreachable (as opposed to refusing this entry).
fn unavailable(err: &keyring::Error) -> bool {
    matches!(
        err,
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_)
    )
}

fn remove_if_exists(path: &std::path::Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(kind: TokenStoreKind) -> (tempfile::TempDir, DataDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(Some(dir.path().to_owned())).unwrap();
        let account = Account {
            user_id: "u".into(),
            email: "a@example.com".into(),
            server: "http://127.0.0.1:1".into(),
        };
        let tokens = TokenStore::new(kind, &data, &account, "client");
        (dir, data, tokens)
    }

    #[test]
    fn the_file_store_is_private_and_forgets_on_delete() {
        let (_dir, data, tokens) = store(TokenStoreKind::File);
        assert_eq!(tokens.load().unwrap(), None);
        tokens.save("secret-token").unwrap();
        assert_eq!(tokens.load().unwrap().as_deref(), Some("secret-token"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(data.file(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        tokens.delete().unwrap();
        assert_eq!(tokens.load().unwrap(), None);
        assert!(!data.file(TOKEN_FILE).exists());
    }
}
