//! The command line, as clap derive types. Parsing only: every command is carried out by a
//! module of [`crate::commands`].

use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use legato_core::model::{EntryType, GoalPeriod, GoalStatus, GoalType, Mood, PieceStatus};

/// Legato, the offline-first practice log, from the command line.
///
/// One data directory is one device: its own database, outbox and sync cursor. Every edit is
/// saved locally first and synced by `legato sync`.
#[derive(Debug, Parser)]
#[command(name = "legato", version)]
pub struct Cli {
    /// This device's data directory [default: $XDG_DATA_HOME/legato or ~/.local/share/legato].
    #[arg(long, global = true, env = "LEGATO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Sync server URL; remembered in the data directory once given
    /// [default: http://127.0.0.1:8080].
    #[arg(long, global = true, env = "LEGATO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Where the account token is kept: the OS keyring, a file readable only by you in the
    /// data directory, or the keyring falling back to the file where there is none.
    #[arg(
        long,
        global = true,
        env = "LEGATO_KEYRING",
        value_name = "STORE",
        default_value = "auto"
    )]
    pub token_store: TokenStoreKind,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the account token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenStoreKind {
    /// The OS keyring; a private file in the data directory where no keyring service exists.
    Auto,
    /// The OS keyring only.
    Keyring,
    /// The file `token` in the data directory (mode 0600): headless machines and tests.
    File,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, log in or log out of the sync server.
    #[command(subcommand)]
    Account(AccountCommand),
    /// The account's signed-in devices: list them, sign one out.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Practice sessions: add, edit, delete, list.
    #[command(subcommand)]
    Log(LogCommand),
    /// Pieces in your repertoire.
    #[command(subcommand)]
    Repertoire(RepertoireCommand),
    /// Practice goals.
    #[command(subcommand)]
    Goal(GoalCommand),
    /// Push local changes and catch up with the server, then exit.
    Sync(SyncArgs),
    /// Sync state: connection, pending changes, dead letters, conflicts, cursor, health.
    Status(JsonFlag),
    /// Practice minutes today, this week and in all, and the current streak of days.
    Stats(JsonFlag),
    /// Conflicts waiting for your decision.
    #[command(subcommand)]
    Conflicts(ConflictsCommand),
    /// Changes the server refused for good.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
    /// Export the logbook (CSV or JSON) or a backup of everything (JSON).
    Export(ExportArgs),
    /// Import a JSON or CSV file: existing ids are updated, missing ones created, never
    /// duplicated; prints what was (with --dry-run: would be) created, updated, unchanged
    /// and skipped.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and log this device in.
    Register(Credentials),
    /// Log this device in.
    Login(Credentials),
    /// Revoke this device's token and forget it.
    Logout,
    /// Change the password; every other device of the account is signed out.
    Password(PasswordChange),
}

#[derive(Debug, Args)]
pub struct PasswordChange {
    /// The current password (or set LEGATO_PASSWORD).
    #[arg(long, env = "LEGATO_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// The new password (or set LEGATO_NEW_PASSWORD).
    #[arg(long, env = "LEGATO_NEW_PASSWORD", hide_env_values = true)]
    pub new_password: String,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// The account's signed-in devices, oldest first (`*` marks this one).
    List(JsonFlag),
    /// Sign a device out: its token is revoked and its live connections close.
    Revoke {
        /// The device id, as `legato devices list` shows it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct Credentials {
    #[arg(long, env = "LEGATO_EMAIL")]
    pub email: String,
    /// The password (or set LEGATO_PASSWORD, or use --password-stdin).
    #[arg(long, env = "LEGATO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Log a practice session; prints the new entry's id.
    Add(LogAdd),
    /// Change an entry: only the given flags change it.
    Edit(LogEdit),
    /// Delete an entry.
    Delete {
        /// The entry's id.
        id: String,
    },
    /// List entries, newest first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Machine-readable JSON on stdout (entity states with their `id`).
    #[arg(long)]
    pub json: bool,
    /// Show at most this many.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct LogAdd {
    /// Minutes, 1 to 1440.
    #[arg(long)]
    pub duration: u32,
    #[command(flatten)]
    pub fields: LogFields,
}

#[derive(Debug, Args)]
pub struct LogEdit {
    /// The entry's id.
    pub id: String,
    /// Minutes, 1 to 1440.
    #[arg(long)]
    pub duration: Option<u32>,
    #[command(flatten)]
    pub fields: LogFields,
    /// Add a tag, keeping the others (repeatable).
    #[arg(long, value_name = "TAG")]
    pub add_tag: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub remove_tag: Vec<String>,
}

/// Logbook flags shared by `log add` and `log edit`. In `edit`, an absent flag leaves the
/// field alone, an empty value (`--notes ""`) clears it, and a list flag replaces the list.
#[derive(Debug, Args)]
pub struct LogFields {
    /// Kind of session.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_enum::<EntryType>)]
    pub entry_type: Option<EntryType>,
    /// Instrument (stored in lower case).
    #[arg(long)]
    pub instrument: Option<String>,
    /// A piece worked on (repeatable).
    #[arg(long, value_name = "TITLE")]
    pub piece: Vec<String>,
    /// Composer of the pieces: one per --piece in order, or one for all of them.
    #[arg(long)]
    pub composer: Vec<String>,
    /// Measures worked on (e.g. "1-32"): one per --piece in order, or one for all of them.
    #[arg(long)]
    pub measures: Vec<String>,
    /// Tempo in BPM (1 to 1000): one per --piece in order, or one for all of them.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub tempo: Vec<i64>,
    /// The repertoire piece's id: one per --piece in order, or one for all of them.
    #[arg(long, value_name = "PIECE_ID")]
    pub score_id: Vec<String>,
    /// A technique worked on (repeatable).
    #[arg(long)]
    pub technique: Vec<String>,
    /// How it went.
    #[arg(long, value_parser = parse_clearable::<Mood>)]
    pub mood: Option<Clearable<Mood>>,
    #[arg(long)]
    pub notes: Option<String>,
    /// A tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// A goal this session counts towards (repeatable).
    #[arg(long = "goal", value_name = "GOAL_ID")]
    pub goal_ids: Vec<String>,
    /// When the practice happened, RFC 3339 (e.g. 2026-11-25T18:30:00Z) [default: now].
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum RepertoireCommand {
    /// Add a piece; prints its id.
    Add(RepertoireAdd),
    /// Change a piece: only the given flags change it.
    Edit(RepertoireEdit),
    /// List pieces.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct RepertoireAdd {
    /// The piece's title.
    pub title: String,
    #[command(flatten)]
    pub fields: RepertoireFields,
}

#[derive(Debug, Args)]
pub struct RepertoireEdit {
    /// The piece's id.
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: RepertoireFields,
}

#[derive(Debug, Args)]
pub struct RepertoireFields {
    #[arg(long)]
    pub composer: Option<String>,
    /// Where the piece stands (a change is recorded in its status history).
    #[arg(long, value_parser = parse_enum::<PieceStatus>)]
    pub status: Option<PieceStatus>,
    /// 1 to 5 ("" clears).
    #[arg(long, value_parser = parse_clearable::<u8>)]
    pub difficulty: Option<Clearable<u8>>,
    #[arg(long)]
    pub notes: Option<String>,
    /// A reference link, http(s) (repeatable).
    #[arg(long = "link", value_name = "URL")]
    pub links: Vec<String>,
    /// A tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum GoalCommand {
    /// Add a goal; prints its id.
    Add(GoalAdd),
    /// Change a goal: only the given flags change it.
    Edit(GoalEdit),
    /// List goals.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct GoalAdd {
    /// The goal's title.
    pub title: String,
    #[command(flatten)]
    pub fields: GoalFields,
}

#[derive(Debug, Args)]
pub struct GoalEdit {
    /// The goal's id.
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: GoalFields,
    /// Add to the progress counter (negative to subtract); adds up with other devices.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub add_progress: Option<i64>,
    /// Mark a milestone done, by id or title (repeatable).
    #[arg(long, value_name = "MILESTONE")]
    pub done: Vec<String>,
    /// Mark a milestone not done, by id or title (repeatable).
    #[arg(long, value_name = "MILESTONE")]
    pub undone: Vec<String>,
    /// Remove a milestone, by id or title (repeatable).
    #[arg(long, value_name = "MILESTONE")]
    pub remove_milestone: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GoalFields {
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_enum::<GoalType>)]
    pub goal_type: Option<GoalType>,
    /// Target minutes per period ("" clears).
    #[arg(long, value_parser = parse_clearable::<i64>)]
    pub target_minutes: Option<Clearable<i64>>,
    #[arg(long, value_parser = parse_enum::<GoalPeriod>)]
    pub period: Option<GoalPeriod>,
    /// Target date, RFC 3339 ("" clears).
    #[arg(long, value_parser = parse_clearable_time)]
    pub target_date: Option<Clearable<DateTime<Utc>>>,
    #[arg(long, value_parser = parse_enum::<GoalStatus>)]
    pub status: Option<GoalStatus>,
    /// A repertoire piece this goal is about (repeatable).
    #[arg(long = "piece-id", value_name = "ID")]
    pub piece_ids: Vec<String>,
    /// Add a milestone with this title (repeatable); `goal list --json` shows its id.
    #[arg(long, value_name = "TITLE")]
    pub milestone: Vec<String>,
    #[arg(long)]
    pub notes: Option<String>,
    /// A tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Stay connected and print each change as it arrives, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Give up when the server does not answer for this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// How conflicts are settled: merged, this device's values, the server's, or kept for
    /// `legato conflicts` (manual).
    #[arg(long, default_value = "merge")]
    pub strategy: StrategyArg,
}

/// Conflict strategies of PROTOCOL.md section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Merge,
    Local,
    Remote,
    Manual,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List conflicts waiting for a decision.
    List(JsonFlag),
    /// Decide a conflict; the decision is queued as a new change.
    Resolve {
        /// The conflict's id (from `conflicts list`).
        id: i64,
        /// Keep this device's values, take the server's, or merge both.
        #[arg(long)]
        take: Take,
    },
}

/// How to decide a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Take {
    Local,
    Remote,
    Merge,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List changes the server refused.
    List(JsonFlag),
    /// Queue a refused change again, as it was.
    Retry {
        /// The change id (from `dead-letters list`).
        change_id: String,
    },
    /// Drop a refused change for good; the entity goes back to the server's version.
    Discard {
        /// The change id (from `dead-letters list`).
        change_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One entity type as CSV (`--type`, the logbook by default).
    Csv,
    /// The logbook as JSON.
    Json,
    /// Every entry, piece and goal as JSON.
    Backup,
}

/// Entity types as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Logbook,
    Repertoire,
    Goals,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, default_value = "backup")]
    pub format: Format,
    /// With CSV: which entities (one table per file).
    #[arg(long = "type", value_name = "TYPE", default_value = "logbook")]
    pub kind: Kind,
    /// Write to FILE (replaced whole) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON or CSV file: `legato export`'s, the app's, or another practice app's CSV
    /// (`-` reads stdin).
    pub file: PathBuf,
    /// Print what the import would do, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With CSV or a bare JSON array: which entities the file holds.
    #[arg(long = "type", value_name = "TYPE", default_value = "logbook")]
    pub kind: Kind,
}

/// A flag value where the empty string means "clear the field".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clearable<T>(pub Option<T>);

fn parse_enum<T: FromStr<Err = legato_core::model::ParseEnumError>>(
    text: &str,
) -> Result<T, String> {
    text.parse()
        .map_err(|err: legato_core::model::ParseEnumError| {
            format!("expected one of: {}", err.expected.join(", "))
        })
}

fn parse_clearable<T>(text: &str) -> Result<Clearable<T>, String>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    if text.is_empty() {
        return Ok(Clearable(None));
    }
    text.parse()
        .map(|value| Clearable(Some(value)))
        .map_err(|err: T::Err| err.to_string())
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    legato_core::model::datetime::parse(text).map_err(|_| {
        format!("`{text}` is not an RFC 3339 date-time (for example 2026-11-25T18:30:00Z)")
    })
}

fn parse_clearable_time(text: &str) -> Result<Clearable<DateTime<Utc>>, String> {
    if text.is_empty() {
        return Ok(Clearable(None));
    }
    parse_time(text).map(|time| Clearable(Some(time)))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn enum_flags_list_the_valid_names() {
        let err = parse_enum::<Mood>("happy").unwrap_err();
        assert_eq!(
            err,
            "expected one of: frustrated, neutral, satisfied, excited"
        );
        assert_eq!(parse_clearable::<Mood>("").unwrap(), Clearable(None));
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(
            parse_time("2026-11-25T19:30:00+01:00").unwrap(),
            parse_time("2026-11-25T18:30:00.000Z").unwrap()
        );
    }
}
