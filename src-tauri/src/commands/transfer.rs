//! Export & import: choose a file (the native dialog, opened from Rust: the page has no
//! dialog permission), export to it, preview an import, apply it. One store call each.

use std::path::PathBuf;

use legato_protocol::EntityType;
use legato_store::{ImportOptions, TimeZone};
use tauri::State;
use tauri_plugin_dialog::DialogExt as _;

use super::now;
use crate::ipc::error::IpcError;
use crate::ipc::types::{
    ChangeOrigin, EntriesChanged, ExportKind, ExportedFile, ImportPreviewView,
};
use crate::state::AppState;
use crate::statistics::export_dir;
use crate::transfer;

fn path_of(path: &str) -> Result<PathBuf, IpcError> {
    if path.trim().is_empty() {
        return Err(IpcError::invalid("path", "choose a file first"));
    }
    Ok(PathBuf::from(path))
}

fn app(state: &AppState) -> Result<tauri::AppHandle, IpcError> {
    state
        .app()
        .cloned()
        .ok_or_else(|| IpcError::internal("the app is not attached yet"))
}

/// The save dialog, in the Downloads directory with a suggested name; `None`: cancelled.
#[tauri::command]
pub async fn choose_export_file(
    state: State<'_, AppState>,
    kind: ExportKind,
) -> Result<Option<String>, IpcError> {
    let today = chrono::Local::now().date_naive().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let extension = if kind == ExportKind::Csv {
        "csv"
    } else {
        "json"
    };
    app(&state)?
        .dialog()
        .file()
        .set_directory(export_dir(&state.launch.data_dir))
        .set_file_name(transfer::suggested_name(kind, &today))
        .add_filter(extension.to_uppercase(), &[extension])
        .save_file(move |path| {
            let _ = tx.send(path);
        });
    chosen_path(rx).await
}

/// The open dialog for a JSON or CSV file; `None`: cancelled.
#[tauri::command]
pub async fn choose_import_file(state: State<'_, AppState>) -> Result<Option<String>, IpcError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app(&state)?
        .dialog()
        .file()
        .add_filter("JSON or CSV", &["json", "csv"])
        .pick_file(move |path| {
            let _ = tx.send(path);
        });
    chosen_path(rx).await
}

/// Writes an export to `path` (replaced whole, never half-written).
#[tauri::command]
pub async fn export_data(
    state: State<'_, AppState>,
    kind: ExportKind,
    path: String,
) -> Result<ExportedFile, IpcError> {
    let file = path_of(&path)?;
    let now_ms = now().0.timestamp_millis();
    let format = transfer::format(kind);
    let bytes = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            Ok(store.export_to_file(format, &file, now_ms)?)
        })
        .await?;
    tracing::info!(%path, bytes, "exported");
    Ok(ExportedFile {
        path,
        bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
    })
}

fn options() -> ImportOptions {
    ImportOptions {
        entity_type: EntityType::Logbook,
        zone: TimeZone::system(),
    }
}

/// What importing the file would do; nothing is written.
#[tauri::command]
pub async fn preview_import(
    state: State<'_, AppState>,
    path: String,
) -> Result<ImportPreviewView, IpcError> {
    let file = path_of(&path)?;
    let preview = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            Ok(store.preview_import_file(&file, &options())?)
        })
        .await?;
    Ok(transfer::preview_view(path, preview))
}

/// Imports the file as its preview (`fingerprint`) said, in one transaction; refused with
/// `import_changed` when the data changed since.
#[tauri::command]
pub async fn apply_import(
    state: State<'_, AppState>,
    path: String,
    fingerprint: String,
) -> Result<ImportPreviewView, IpcError> {
    let file = path_of(&path)?;
    let now_ms = now().0.timestamp_millis();
    let done = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            Ok(store.apply_import_file(&file, &options(), &fingerprint, now_ms)?)
        })
        .await?;
    tracing::info!(%path, created = done.counts.created, updated = done.counts.updated, "imported");
    if done.counts.created + done.counts.updated > 0 {
        state.sync.handle().notify_local_change();
        crate::goals::check_reached(&state);
        for entity_type in EntityType::ALL {
            state.emit(&EntriesChanged {
                entity_type: entity_type.into(),
                ids: None,
                origin: ChangeOrigin::Local,
            });
        }
    }
    Ok(transfer::preview_view(path, done))
}

/// The path a file dialog answered with; `None`: cancelled.
async fn chosen_path(
    rx: tokio::sync::oneshot::Receiver<Option<tauri_plugin_dialog::FilePath>>,
) -> Result<Option<String>, IpcError> {
    let chosen = rx.await.map_err(IpcError::internal)?;
    Ok(chosen
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}
