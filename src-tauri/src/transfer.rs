//! Export & import: the views of the store's import previews (pure conversions) and the
//! file names an export suggests. The formats and rules are the store's (`legato_store`'s
//! `transfer.rs`; docs/desktop-app.md, "Export & import").

use legato_protocol::EntityType;
use legato_store::{ExportFormat, FileFormat, ImportPreview};

use crate::ipc::types::{ExportKind, ImportFileFormat, ImportPreviewView, SkippedRowView};

/// At most this many skipped rows travel to the UI (the count covers them all): a file of
/// 100 000 bad rows must not become a 10 MB message.
pub const MAX_SKIPPED_SHOWN: usize = 200;

/// The store's format of an export kind: CSV and JSON are the logbook.
pub fn format(kind: ExportKind) -> ExportFormat {
    match kind {
        ExportKind::Csv => ExportFormat::Csv(EntityType::Logbook),
        ExportKind::Json => ExportFormat::Json,
        ExportKind::Backup => ExportFormat::Backup,
    }
}

/// The file name an export suggests: `legato-logbook-2026-12-07.csv`,
/// `legato-backup-2026-12-07.json`.
pub fn suggested_name(kind: ExportKind, today: &str) -> String {
    match kind {
        ExportKind::Csv => format!("legato-logbook-{today}.csv"),
        ExportKind::Json => format!("legato-logbook-{today}.json"),
        ExportKind::Backup => format!("legato-backup-{today}.json"),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn preview_view(path: String, preview: ImportPreview) -> ImportPreviewView {
    ImportPreviewView {
        path,
        format: match preview.format {
            FileFormat::Json => ImportFileFormat::Json,
            FileFormat::Csv => ImportFileFormat::Csv,
        },
        created: count(preview.counts.created),
        updated: count(preview.counts.updated),
        unchanged: count(preview.counts.unchanged),
        skipped: count(preview.counts.skipped),
        skipped_rows: preview
            .skipped
            .into_iter()
            .take(MAX_SKIPPED_SHOWN)
            .map(|row| SkippedRowView {
                line: count(row.line),
                entity_type: row.entity_type.into(),
                id: row.id,
                reason: row.reason.to_string(),
            })
            .collect(),
        ignored_columns: preview.ignored_columns,
        fingerprint: preview.fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use legato_store::{ImportCounts, SkipReason, SkippedRow};

    use super::*;
    use crate::ipc::types::EntityKind;

    #[test]
    fn at_most_200_skipped_rows_reach_the_ui_and_the_count_is_whole() {
        let rows: Vec<SkippedRow> = (0..MAX_SKIPPED_SHOWN + 5)
            .map(|i| SkippedRow {
                line: i + 2,
                entity_type: EntityType::Logbook,
                id: None,
                reason: SkipReason::NoId,
            })
            .collect();
        let view = preview_view(
            "/tmp/x.csv".into(),
            ImportPreview {
                format: FileFormat::Csv,
                counts: ImportCounts {
                    created: 1,
                    updated: 2,
                    unchanged: 3,
                    skipped: rows.len(),
                },
                skipped: rows,
                ignored_columns: vec!["Rating".into()],
                fingerprint: "f".into(),
            },
        );
        assert_eq!(MAX_SKIPPED_SHOWN, 200);
        assert_eq!(view.skipped, 205);
        assert_eq!(view.skipped_rows.len(), 200);
        assert_eq!(view.skipped_rows[0].line, 2);
        assert_eq!(view.skipped_rows[0].entity_type, EntityKind::Logbook);
        assert_eq!(view.skipped_rows[0].reason, "has no id");
        assert_eq!((view.created, view.updated, view.unchanged), (1, 2, 3));
    }

    #[test]
    fn suggested_names_say_what_they_hold() {
        assert_eq!(
            suggested_name(ExportKind::Backup, "2026-12-07"),
            "legato-backup-2026-12-07.json"
        );
        assert_eq!(
            suggested_name(ExportKind::Csv, "2026-12-07"),
            "legato-logbook-2026-12-07.csv"
        );
        assert_eq!(format(ExportKind::Json), ExportFormat::Json);
    }
}
