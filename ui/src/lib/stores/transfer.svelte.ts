// Export & import (Settings): the chosen files, the export kind, the import's preview and
// its result. The shell does the work (the store's transfer functions); a file is chosen
// with the native dialog or typed in.

import {
  toFailure,
  transfer as api,
  type ExportKind,
  type ExportedFile,
  type ImportPreviewView,
} from "../ipc";
import { fileSize, previewSummary } from "../transfer";
import { notifications, type NotificationStore } from "./notifications.svelte";

export type TransferBusy = "export" | "preview" | "apply" | null;

export class TransferStore {
  exportKind = $state<ExportKind>("backup");
  exportPath = $state("");
  importPath = $state("");
  busy = $state<TransferBusy>(null);
  /** The preview waiting for Import / Cancel. */
  preview = $state<ImportPreviewView | null>(null);
  /** What the last import did. */
  result = $state<ImportPreviewView | null>(null);
  exported = $state<ExportedFile | null>(null);
  /** The last failure, shown under the form it belongs to. */
  exportError = $state<string | null>(null);
  importError = $state<string | null>(null);

  #notify: NotificationStore;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  async chooseExportFile(): Promise<void> {
    try {
      const path = await api.chooseExportFile(this.exportKind);
      if (path) this.exportPath = path;
    } catch (raw) {
      this.exportError = toFailure(raw).message;
    }
  }

  async chooseImportFile(): Promise<void> {
    try {
      const path = await api.chooseImportFile();
      if (path) {
        this.importPath = path;
        this.preview = null;
      }
    } catch (raw) {
      this.importError = toFailure(raw).message;
    }
  }

  /** Exports to the chosen file (the dialog opens first when none is). */
  async exportNow(): Promise<void> {
    if (!this.exportPath.trim()) await this.chooseExportFile();
    if (!this.exportPath.trim()) return;
    this.busy = "export";
    this.exportError = null;
    try {
      this.exported = await api.exportData(this.exportKind, this.exportPath.trim());
      this.#notify.success(`Exported to ${this.exported.path} (${fileSize(this.exported.bytes)})`);
    } catch (raw) {
      const failure = toFailure(raw);
      this.exportError = failure.message;
      this.#notify.failure("The export failed", failure);
    } finally {
      this.busy = null;
    }
  }

  /** Reads the file and shows what importing it would do (the dialog first when no file). */
  async previewImport(): Promise<void> {
    if (!this.importPath.trim()) await this.chooseImportFile();
    if (!this.importPath.trim()) return;
    this.busy = "preview";
    this.importError = null;
    this.result = null;
    try {
      this.preview = await api.preview(this.importPath.trim());
    } catch (raw) {
      this.preview = null;
      this.importError = toFailure(raw).message;
    } finally {
      this.busy = null;
    }
  }

  /** Imports what the preview counted; when the data changed meanwhile, previews again. */
  async applyImport(): Promise<void> {
    const preview = this.preview;
    if (!preview) return;
    this.busy = "apply";
    this.importError = null;
    try {
      this.result = await api.apply(preview.path, preview.fingerprint);
      this.preview = null;
      this.#notify.success(previewSummary(this.result, true));
    } catch (raw) {
      const failure = toFailure(raw);
      if (failure.code === "import_changed") {
        this.preview = await api.preview(preview.path).catch(() => null);
        this.importError = "The data changed since the preview: check the new counts and import again.";
      } else {
        this.importError = failure.message;
      }
    } finally {
      this.busy = null;
    }
  }

  cancelImport(): void {
    this.preview = null;
    this.importError = null;
  }
}

export const transfer = new TransferStore();
