//! The IPC contract between the Rust shell and the web UI, defined once, here:
//!
//! - [`contract!`] lists every command with its argument and result types. It builds the
//!   Tauri handler, checks at compile time that each listed signature is the command
//!   function's own, and describes the commands for the TypeScript bindings.
//! - [`types`] holds the payload types, [`error`] the error every command fails with, and
//!   [`crate::events`] the event names and payloads.
//! - [`bindings::generate`] writes all of it as TypeScript (`ui/src/lib/ipc/bindings.ts`,
//!   via ts-rs). `cargo xtask codegen` regenerates the file; a test fails when the committed
//!   file differs from what the Rust types say.

pub mod bindings;
pub mod error;
pub mod types;

/// Lists the commands: `module::command(arg: Type, ...) -> Result;` (the `State` argument
/// every command takes first is implied).
macro_rules! contract {
    ($( $module:ident :: $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        /// The invoke handler with every command of the contract.
        pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![ $( crate::commands::$module::$name ),* ]
        }

        /// Never called: it only compiles if every command has exactly the listed
        /// signature, so the TypeScript bindings cannot describe a command wrongly.
        #[allow(dead_code, clippy::all)]
        fn signatures_match_the_contract() {
            $( {
                async fn check(
                    state: tauri::State<'_, crate::state::AppState>,
                    $($arg: $ty),*
                ) -> Result<$ret, crate::ipc::error::IpcError> {
                    crate::commands::$module::$name(state, $($arg),*).await
                }
            } )*
        }

        /// Every command for the bindings: name, arguments (JS names), result.
        pub fn commands() -> Vec<bindings::CommandSpec> {
            vec![ $( bindings::CommandSpec {
                name: stringify!($name),
                args: vec![ $( (stringify!($arg), bindings::ts_name::<$ty>()) ),* ],
                result: bindings::ts_name::<$ret>(),
                visit: |visitor| {
                    $( visitor.visit_root::<$ty>(); )*
                    visitor.visit_root::<$ret>();
                },
            } ),* ]
        }
    };
}

use types::*;

contract! {
    logbook::list_entries(filter: EntryFilter) -> EntryList;
    logbook::get_entry(id: String) -> Entry;
    logbook::create_entry(input: EntryInput) -> Entry;
    logbook::update_entry(id: String, input: EntryInput) -> Entry;
    logbook::delete_entry(id: String) -> DeletedEntry;
    logbook::undo_delete(id: String) -> RestoredEntry;
    stats::get_stats() -> Stats;
    stats::get_statistics(request: StatisticsRequest) -> StatisticsView;
    stats::save_chart(chart: ChartImage) -> SavedFile;
    repertoire::list_pieces() -> Vec<RepertoirePiece>;
    repertoire::get_piece(id: String) -> PieceDetail;
    repertoire::create_piece(input: PieceInput) -> RepertoirePiece;
    repertoire::update_piece(id: String, input: PieceInput) -> RepertoirePiece;
    repertoire::delete_piece(id: String) -> Deleted;
    repertoire::similar_pieces(title: String, composer: Option<String>, except: Option<String>) -> Vec<SimilarPiece>;
    goals::list_goals() -> Vec<GoalView>;
    goals::create_goal(input: GoalInput) -> GoalView;
    goals::update_goal(id: String, input: GoalInput) -> GoalView;
    goals::add_goal_progress(id: String, amount: i32) -> GoalView;
    goals::delete_goal(id: String) -> Deleted;
    settings::get_settings() -> SettingsView;
    settings::set_server_url(url: String) -> SettingsView;
    settings::set_conflict_strategy(entity_type: EntityKind, strategy: ConflictStrategy) -> SettingsView;
    settings::set_theme(theme: Theme) -> SettingsView;
    settings::set_close_to_tray(enabled: bool) -> SettingsView;
    account::register(credentials: Credentials) -> SettingsView;
    account::sign_in(credentials: Credentials) -> SettingsView;
    account::sign_out() -> SettingsView;
    account::list_devices() -> Vec<DeviceView>;
    account::revoke_device(id: String) -> Vec<DeviceView>;
    sync::get_sync_status() -> SyncStatusView;
    sync::sync_now() -> SyncReportView;
    sync::pause_sync() -> SyncStatusView;
    sync::resume_sync() -> SyncStatusView;
    sync::list_dead_letters() -> Vec<DeadLetterView>;
    sync::retry_dead_letter(change_id: String) -> ();
    sync::discard_dead_letter(change_id: String) -> ();
    conflicts::list_conflicts() -> Vec<ConflictView>;
    conflicts::resolve_conflict(conflict_id: ConflictId, resolution: ConflictResolution) -> Resolved;
    timer::get_timer() -> TimerStatus;
    timer::start_timer(piece: Option<TimerPieceView>) -> TimerStatus;
    timer::pause_timer() -> TimerStatus;
    timer::resume_timer() -> TimerStatus;
    timer::switch_timer_piece(piece: Option<TimerPieceView>) -> TimerStatus;
    timer::set_timer_tempo(bpm: u32) -> TimerStatus;
    timer::stop_timer() -> TimerStatus;
    timer::trim_timer(minutes: u32) -> TimerStatus;
    timer::finish_timer(input: EntryInput) -> Entry;
    timer::discard_timer() -> TimerStatus;
    timer::set_timer_reminder(minutes: u32) -> TimerStatus;
    transfer::choose_export_file(kind: ExportKind) -> Option<String>;
    transfer::choose_import_file() -> Option<String>;
    transfer::export_data(kind: ExportKind, path: String) -> ExportedFile;
    transfer::preview_import(path: String) -> ImportPreviewView;
    transfer::apply_import(path: String, fingerprint: String) -> ImportPreviewView;
}
