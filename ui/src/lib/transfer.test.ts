import { describe, expect, it } from "vitest";

import type { ImportPreviewView } from "./ipc";
import { fileSize, moreSkipped, previewSummary, skippedLine } from "./transfer";

function preview(over: Partial<ImportPreviewView> = {}): ImportPreviewView {
  return {
    path: "/tmp/x.csv",
    format: "csv",
    created: 2,
    updated: 1,
    unchanged: 4,
    skipped: 1,
    skippedRows: [{ line: 3, entityType: "logbook", id: null, reason: "column `Minutes`: `abc` is not a number of minutes" }],
    ignoredColumns: [],
    fingerprint: "f",
    ...over,
  };
}

describe("import preview words", () => {
  it("counts what will be written", () => {
    expect(previewSummary(preview())).toBe("8 records: 3 records will be written.");
    expect(previewSummary(preview({ created: 1, updated: 0 }))).toBe("6 records: 1 record will be written.");
    expect(previewSummary(preview({ created: 0, updated: 0 }))).toBe("5 records: nothing new to import.");
    expect(previewSummary(preview({ created: 0, updated: 0, unchanged: 0, skipped: 0 }))).toBe(
      "The file holds no records.",
    );
  });

  it("says what was done", () => {
    expect(previewSummary(preview(), true)).toBe("Imported 3 records of 8 records.");
    expect(previewSummary(preview({ created: 0, updated: 0 }), true)).toBe(
      "Nothing to import: 5 records, all already here or skipped.",
    );
    expect(previewSummary(preview({ created: 1200, updated: 0, unchanged: 0, skipped: 0 }), true)).toBe(
      "Imported 1,200 records of 1,200 records.",
    );
  });

  it("names a skipped row by line (CSV) or by list and position (JSON)", () => {
    const row = preview().skippedRows[0]!;
    expect(skippedLine(row, "csv")).toBe("Line 3: column `Minutes`: `abc` is not a number of minutes");
    expect(skippedLine({ ...row, id: "bad-1", reason: "it was deleted on this device" }, "json")).toBe(
      "logbook record 3 (bad-1): it was deleted on this device",
    );
  });

  it("counts the skipped rows not listed", () => {
    expect(moreSkipped(preview())).toBe(0);
    expect(moreSkipped(preview({ skipped: 205 }))).toBe(204);
  });

  it("sizes files", () => {
    expect(fileSize(999)).toBe("999 bytes");
    expect(fileSize(12_345)).toBe("12.3 kB");
    expect(fileSize(2_500_000)).toBe("2.5 MB");
  });
});
