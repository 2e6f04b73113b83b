//! `legato export` and `legato import`, over the store's `transfer` functions (the formats,
//! the CSV headers and the identity rules are in `legato_store`'s `transfer.rs` and
//! docs/desktop-app.md).

use std::io::{self, Read as _, Write as _};

use anyhow::{Context as _, Result};
use legato_protocol::EntityType;
use legato_store::{ExportFormat, ImportOptions, ImportPreview, TimeZone};

use crate::cli::{ExportArgs, Format, ImportArgs, Kind};
use crate::context::{Context, now_ms};

fn entity_type(kind: Kind) -> EntityType {
    match kind {
        Kind::Logbook => EntityType::Logbook,
        Kind::Repertoire => EntityType::Repertoire,
        Kind::Goals => EntityType::Goals,
    }
}

pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.store()?;
    let format = match args.format {
        Format::Csv => ExportFormat::Csv(entity_type(args.kind)),
        Format::Json => ExportFormat::Json,
        Format::Backup => ExportFormat::Backup,
    };
    match &args.out {
        Some(path) => {
            let bytes = store.export_to_file(format, path, now_ms())?;
            eprintln!("wrote {bytes} bytes to {}", path.display());
        }
        None => {
            let text = store.export(format, now_ms())?;
            io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}

pub fn import(ctx: &Context, args: &ImportArgs) -> Result<()> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin()
            .take(legato_store::MAX_IMPORT_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        bytes
    } else {
        legato_store::read_import_file(&args.file)?
    };
    let options = ImportOptions {
        entity_type: entity_type(args.kind),
        zone: TimeZone::system(),
    };
    let mut store = ctx.store()?;
    let preview = store.preview_import(&bytes, &options)?;
    let done = if args.dry_run {
        preview
    } else {
        store.apply_import(&bytes, &options, &preview.fingerprint, now_ms())?
    };
    report(&done, args.dry_run);
    Ok(())
}

fn report(preview: &ImportPreview, dry_run: bool) {
    for column in &preview.ignored_columns {
        eprintln!("ignored column `{column}`");
    }
    for row in &preview.skipped {
        let id = row
            .id
            .as_deref()
            .map(|id| format!(" {id}"))
            .unwrap_or_default();
        eprintln!(
            "skipped {}{id} at {}: {}",
            row.entity_type, row.line, row.reason
        );
    }
    let c = preview.counts;
    let total = c.created + c.updated + c.unchanged + c.skipped;
    let verb = if dry_run {
        "dry run, nothing written: would import"
    } else {
        "imported"
    };
    println!(
        "{verb} {total} records: {} created, {} updated, {} unchanged, {} skipped",
        c.created, c.updated, c.unchanged, c.skipped
    );
}
