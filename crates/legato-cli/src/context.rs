//! What every command needs: the data directory, its config, the server URL, the store and
//! the token store.

use std::cell::Cell;

use anyhow::{Context as _, Result, bail};
use legato_store::Store;
use legato_sync::ServerUrl;

use crate::cli::{Cli, TokenStoreKind};
use crate::config::{Account, Config, DEFAULT_SERVER, DataDir, normalize_server};
use crate::token::TokenStore;

/// The resolved global options of one invocation.
#[derive(Debug)]
pub struct Context {
    pub data: DataDir,
    pub config: Config,
    /// `--server`, else the one remembered in the config, else the default.
    pub server: String,
    token_kind: TokenStoreKind,
    /// The plain-http warning was printed (once per command).
    warned_insecure: Cell<bool>,
}

impl Context {
    /// Opens the data directory; a `--server` given here is remembered for later commands.
    pub fn new(cli: &Cli) -> Result<Self> {
        let data = DataDir::open(cli.data_dir.clone())?;
        let mut config = data.load_config()?;
        let server = match &cli.server {
            Some(given) => {
                let server = normalize_server(given)?;
                if config.server.as_deref() != Some(server.as_str()) {
                    config.server = Some(server.clone());
                    data.save_config(&config)?;
                }
                server
            }
            None => config
                .server
                .clone()
                .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        };
        Ok(Context {
            data,
            config,
            server,
            token_kind: cli.token_store,
            warned_insecure: Cell::new(false),
        })
    }

    /// `server` checked, for a command that is about to talk to it: a plain `http://`
    /// server that is not on this machine is warned about on stderr, once per command
    /// ([`ServerUrl::insecure_warning`]).
    pub fn server_url(&self, server: &str) -> Result<ServerUrl> {
        let url = ServerUrl::parse(server)?;
        self.warn_if_insecure(&url);
        Ok(url)
    }

    /// Prints the plain-http warning for `url` on stderr, at most once per command.
    pub fn warn_if_insecure(&self, url: &ServerUrl) {
        if let Some(warning) = url.insecure_warning()
            && !self.warned_insecure.replace(true)
        {
            eprintln!("warning: {warning}");
        }
    }

    /// Opens (creating and migrating if needed) this device's store.
    pub fn store(&self) -> Result<Store> {
        let path = self.data.store_path();
        Store::open(&path).with_context(|| format!("cannot open the store {}", path.display()))
    }

    pub fn tokens(&self, account: &Account, client_id: &str) -> TokenStore {
        TokenStore::new(self.token_kind, &self.data, account, client_id)
    }

    /// The logged-in account and its token, or a message saying how to log in.
    pub fn session(&self, client_id: &str) -> Result<(Account, String)> {
        let Some(account) = self.config.account.clone() else {
            bail!("not logged in: run `legato account login --email E --password P` first");
        };
        let token = self.tokens(&account, client_id).load()?;
        match token {
            Some(token) => Ok((account, token)),
            None => bail!(
                "no login token for {} on this device: run `legato account login` again",
                account.email
            ),
        }
    }
}

/// Now, in milliseconds since the Unix epoch (the time of the user's edit).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
