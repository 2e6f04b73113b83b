// The export & import store against a mocked shell: the dialog only when no file is typed,
// preview then apply with the preview's fingerprint, a stale preview read again.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { ImportPreviewView } from "../ipc";
import { failure, installWindow, mockShell } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";
import { TransferStore } from "./transfer.svelte";

beforeAll(installWindow);
afterEach(() => clearMocks());

const preview = (fingerprint: string, created = 2): ImportPreviewView => ({
  path: "/data/in.csv",
  format: "csv",
  created,
  updated: 0,
  unchanged: 1,
  skipped: 0,
  skippedRows: [],
  ignoredColumns: [],
  fingerprint,
});

describe("export & import", () => {
  it("exports to a typed path without the dialog, and asks the dialog otherwise", async () => {
    const shell = mockShell({
      choose_export_file: () => null,
      export_data: (args) => ({ path: args.path, bytes: 1234 }),
    });
    const store = new TransferStore(new NotificationStore());
    store.exportKind = "csv";
    store.exportPath = "/tmp/out.csv";
    await store.exportNow();
    expect(shell.names()).toEqual(["export_data"]);
    expect(shell.last("export_data")).toEqual({ kind: "csv", path: "/tmp/out.csv" });
    expect(store.exported).toEqual({ path: "/tmp/out.csv", bytes: 1234 });

    // No path and the dialog cancelled: nothing exported.
    store.exportPath = "";
    await store.exportNow();
    expect(shell.names()).toEqual(["export_data", "choose_export_file"]);
  });

  it("applies with the preview's fingerprint, then clears the preview", async () => {
    const shell = mockShell({
      preview_import: () => preview("abc"),
      apply_import: () => preview("abc"),
    });
    const store = new TransferStore(new NotificationStore());
    store.importPath = "/data/in.csv";
    await store.previewImport();
    expect(store.preview?.created).toBe(2);
    await store.applyImport();
    expect(shell.last("apply_import")).toEqual({ path: "/data/in.csv", fingerprint: "abc" });
    expect(store.preview).toBeNull();
    expect(store.result?.created).toBe(2);
  });

  it("reads the preview again when the data changed since", async () => {
    let previews = 0;
    mockShell({
      preview_import: () => preview(previews++ === 0 ? "old" : "new", previews),
      apply_import: () => {
        throw failure("import_changed", "the data changed since the preview");
      },
    });
    const store = new TransferStore(new NotificationStore());
    store.importPath = "/data/in.csv";
    await store.previewImport();
    await store.applyImport();
    expect(store.preview?.fingerprint).toBe("new");
    expect(store.result).toBeNull();
    expect(store.importError).toContain("changed since the preview");
  });

  it("shows why a file cannot be read, and cancel drops the preview", async () => {
    mockShell({ preview_import: () => { throw failure("invalid", "the file is not valid JSON: EOF", "file"); } });
    const store = new TransferStore(new NotificationStore());
    store.importPath = "/data/bad.json";
    await store.previewImport();
    expect(store.importError).toBe("the file is not valid JSON: EOF");
    expect(store.preview).toBeNull();
    store.preview = preview("x");
    store.cancelImport();
    expect(store.preview).toBeNull();
  });
});
