// Export & import: the words the screen shows for a preview (pure, tested).

import type { ExportKind, ImportPreviewView, SkippedRowView } from "./ipc";

export const EXPORT_KINDS: ReadonlyArray<{ kind: ExportKind; label: string; hint: string }> = [
  { kind: "csv", label: "Export logbook as CSV", hint: "for spreadsheets" },
  { kind: "json", label: "Export logbook as JSON", hint: "the entries only" },
  { kind: "backup", label: "Export full backup", hint: "entries, pieces and goals (JSON)" },
];

function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}

/** "3 records: 2 to create, 1 to update" (or what was done, after the import). */
export function previewSummary(preview: ImportPreviewView, done = false): string {
  const total = preview.created + preview.updated + preview.unchanged + preview.skipped;
  if (total === 0) return "The file holds no records.";
  const writes = preview.created + preview.updated;
  const head = plural(total, "record", "records");
  if (done) {
    return writes === 0
      ? `Nothing to import: ${head}, all already here or skipped.`
      : `Imported ${plural(writes, "record", "records")} of ${head}.`;
  }
  return writes === 0
    ? `${head}: nothing new to import.`
    : `${head}: ${plural(writes, "record", "records")} will be written.`;
}

/** "Line 3: column `Minutes`: …" (JSON positions read "Record 3" with their list). */
export function skippedLine(row: SkippedRowView, format: ImportPreviewView["format"]): string {
  const where =
    format === "csv" ? `Line ${row.line}` : `${row.entityType} record ${row.line}`;
  return `${where}${row.id ? ` (${row.id})` : ""}: ${row.reason}`;
}

/** The skipped rows not listed (the shell sends at most 200). */
export function moreSkipped(preview: ImportPreviewView): number {
  return Math.max(0, preview.skipped - preview.skippedRows.length);
}

/** "12.3 kB" for an export's size. */
export function fileSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
