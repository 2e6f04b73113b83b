// The repertoire screen's state: the pieces (with their practice from the logbook), list or
// grid, sort and search, the selected piece with its tempo history, the piece form (new or
// edit) with its field errors and the "similar piece" warning, delete, and "log practice".
// A cache of the store on the Rust side, re-read on `entries-changed`.

import { sentence } from "../format";
import { repertoire as api, toFailure, type EntriesChanged, type IpcFailure, type PieceDetail, type PieceStatus, type RepertoirePiece, type SimilarPiece } from "../ipc";
import {
  draftFromPiece,
  emptyPieceDraft,
  filterPieces,
  pieceDraftToInput,
  sortPieces,
  statusLabel,
  type PieceDraft,
  type PieceErrors,
  type PieceSort,
} from "../repertoire";
import { notifications, type NotificationStore } from "./notifications.svelte";

export type PieceLayout = "list" | "grid";
export type PieceMode = "view" | "new" | "edit";

/** Milliseconds typing a title or composer waits before similar pieces are looked up. */
export const SIMILAR_DEBOUNCE_MS = 300;
/** Change events within this many milliseconds make one re-read (a catch-up sends many). */
export const CHANGE_COALESCE_MS = 150;

/** Where "Log practice" hands a piece to (the logbook's new-entry form). */
export type LogPractice = (piece: { title: string; composer: string | null; scoreId: string }) => void;

export class RepertoireStore {
  pieces = $state<RepertoirePiece[]>([]);
  loaded = $state(false);
  listError = $state<IpcFailure | null>(null);
  layout = $state<PieceLayout>("list");
  sort = $state<PieceSort>("last-practiced");
  search = $state("");

  /** The open piece's page. */
  detail = $state<PieceDetail | null>(null);
  mode = $state<PieceMode>("view");
  draft = $state<PieceDraft | null>(null);
  fieldErrors = $state<PieceErrors>({});
  saving = $state(false);
  /** Pieces nearly matching the draft's title/composer (a warning, never a block). */
  similar = $state<SimilarPiece[]>([]);

  #notify: NotificationStore;
  #logPractice: LogPractice | null = null;
  #loadSeq = 0;
  #similarSeq = 0;
  #similarTimer: ReturnType<typeof setTimeout> | undefined;
  #changeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  /** Wires "Log practice" (done once by `start()`). */
  onLogPractice(handler: LogPractice): void {
    this.#logPractice = handler;
  }

  /** The pieces to show: searched, then sorted. */
  get shown(): RepertoirePiece[] {
    return sortPieces(filterPieces(this.pieces, this.search), this.sort);
  }

  async load(): Promise<void> {
    const seq = ++this.#loadSeq;
    try {
      const pieces = await api.list();
      if (seq !== this.#loadSeq) return;
      this.pieces = pieces;
      this.listError = null;
      this.loaded = true;
      await this.#refreshDetail();
    } catch (err) {
      if (seq === this.#loadSeq) this.listError = toFailure(err);
    }
  }

  setLayout(layout: PieceLayout): void {
    this.layout = layout;
  }

  setSort(sort: PieceSort): void {
    this.sort = sort;
  }

  /** Opens a piece's page (leaving a form without saving). */
  async open(id: string): Promise<void> {
    this.mode = "view";
    this.draft = null;
    this.fieldErrors = {};
    try {
      this.detail = await api.get(id);
    } catch (err) {
      this.#notify.failure("Cannot open the piece", toFailure(err));
    }
  }

  close(): void {
    this.detail = null;
    this.mode = "view";
    this.draft = null;
    this.fieldErrors = {};
    this.similar = [];
  }

  startNew(): void {
    this.draft = emptyPieceDraft();
    this.mode = "new";
    this.fieldErrors = {};
    this.similar = [];
  }

  startEdit(): void {
    if (!this.detail) return;
    this.draft = draftFromPiece(this.detail.piece);
    this.mode = "edit";
    this.fieldErrors = {};
    this.similar = [];
  }

  cancelEdit(): void {
    this.draft = null;
    this.mode = "view";
    this.fieldErrors = {};
    this.similar = [];
  }

  /** The title or composer changed: look for similar pieces after a pause in typing. */
  nameChanged(): void {
    clearTimeout(this.#similarTimer);
    this.#similarTimer = setTimeout(() => void this.checkSimilar(), SIMILAR_DEBOUNCE_MS);
  }

  /** Asks the store for pieces similar to the draft (the piece being edited left out). */
  async checkSimilar(): Promise<void> {
    clearTimeout(this.#similarTimer);
    const draft = this.draft;
    if (!draft || !draft.title.trim()) {
      this.similar = [];
      return;
    }
    const seq = ++this.#similarSeq;
    const except = this.mode === "edit" ? (this.detail?.piece.id ?? null) : null;
    try {
      const found = await api.similar(draft.title.trim(), draft.composer.trim() || null, except);
      if (seq === this.#similarSeq) this.similar = found;
    } catch {
      if (seq === this.#similarSeq) this.similar = [];
    }
  }

  async save(): Promise<RepertoirePiece | null> {
    if (!this.draft || this.saving) return null;
    const checked = pieceDraftToInput(this.draft);
    if (checked.errors) {
      this.fieldErrors = checked.errors;
      return null;
    }
    this.fieldErrors = {};
    this.saving = true;
    const editing = this.mode === "edit" ? this.detail?.piece : null;
    try {
      const saved = editing ? await api.update(editing.id, checked.input) : await api.create(checked.input);
      this.draft = null;
      this.mode = "view";
      this.similar = [];
      this.#notify.success(editing ? "Piece saved" : "Piece added", { key: "piece-saved" });
      await this.load();
      await this.open(saved.id);
      return saved;
    } catch (err) {
      const failure = toFailure(err);
      const key = failure.field === "title" || failure.field === "difficulty" ? failure.field : "form";
      const field = failure.field?.startsWith("referenceLinks") ? "links" : key;
      this.fieldErrors = { [field]: sentence(failure.message) };
      return null;
    } finally {
      this.saving = false;
    }
  }

  async remove(piece: RepertoirePiece): Promise<boolean> {
    try {
      await api.remove(piece.id);
      if (this.detail?.piece.id === piece.id) this.close();
      this.#notify.info("Piece deleted", { key: "piece-deleted" });
      await this.load();
      return true;
    } catch (err) {
      this.#notify.failure("Cannot delete the piece", toFailure(err));
      return false;
    }
  }

  /** Moves a piece to `status` right from its page (the store records it in the history). */
  async setStatus(piece: RepertoirePiece, status: PieceStatus): Promise<void> {
    if (piece.status === status) return;
    const checked = pieceDraftToInput({ ...draftFromPiece(piece), status });
    if (checked.errors) return;
    try {
      await api.update(piece.id, checked.input);
      this.#notify.success(`Now ${statusLabel(status).toLowerCase()}`, { key: "piece-status" });
      await this.load();
    } catch (err) {
      this.#notify.failure("Cannot change the status", toFailure(err));
    }
  }

  /** Opens the logbook's new-entry form with this piece in it. */
  logPractice(piece: RepertoirePiece): void {
    this.#logPractice?.({ title: piece.title, composer: piece.composer, scoreId: piece.id });
  }

  /** `entries-changed`: pieces and logbook entries both change what is shown. */
  onEntriesChanged(change: EntriesChanged): void {
    if (change.entityType === "goals" || this.#changeTimer !== undefined) return;
    this.#changeTimer = setTimeout(() => {
      this.#changeTimer = undefined;
      void this.load();
    }, CHANGE_COALESCE_MS);
  }

  /** Keeps the open page fresh; gone (deleted here or elsewhere) closes it. */
  async #refreshDetail(): Promise<void> {
    const open = this.detail;
    if (!open) return;
    try {
      const fresh = await api.get(open.piece.id);
      if (this.detail?.piece.id === fresh.piece.id) this.detail = fresh;
    } catch (err) {
      if (toFailure(err).code === "not_found" && this.detail?.piece.id === open.piece.id && this.mode !== "edit") {
        this.close();
      }
    }
  }
}

export const repertoire = new RepertoireStore();
