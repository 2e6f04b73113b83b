// Pure helpers of the repertoire screen: status labels, sorting the list, the piece form's
// draft and its checks, and how practice figures read. No state, no IPC: tested in
// repertoire.test.ts. The figures themselves (practice time, sessions, last practice, the
// tempo history, similar pieces) are computed by the store in Rust.

import { formatDateTime, formatMinutes, splitList } from "./format";
import type { PieceInput, PieceStatus, RepertoirePiece, TempoPoint } from "./ipc";

export const PIECE_STATUSES: ReadonlyArray<{ id: PieceStatus; label: string }> = [
  { id: "planned", label: "Planned" },
  { id: "learning", label: "Learning" },
  { id: "polished", label: "Polished" },
  { id: "performed", label: "Performed" },
  { id: "dropped", label: "Dropped" },
];

export function statusLabel(status: PieceStatus): string {
  return PIECE_STATUSES.find((s) => s.id === status)?.label ?? status;
}

export type PieceSort = "last-practiced" | "most-practiced" | "title" | "composer";

export const PIECE_SORTS: ReadonlyArray<{ id: PieceSort; label: string }> = [
  { id: "last-practiced", label: "Last practised" },
  { id: "most-practiced", label: "Most practised" },
  { id: "title", label: "Title" },
  { id: "composer", label: "Composer" },
];

const collator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });

const byTitle = (a: RepertoirePiece, b: RepertoirePiece) => collator.compare(a.title, b.title);

/**
 * The pieces in `sort` order (a new array). Ties and missing values: never-practised
 * pieces and pieces without a composer go last, then by title.
 */
export function sortPieces(pieces: readonly RepertoirePiece[], sort: PieceSort): RepertoirePiece[] {
  const sorted = [...pieces];
  switch (sort) {
    case "last-practiced":
      return sorted.sort(
        (a, b) => (b.lastPracticed ?? -Infinity) - (a.lastPracticed ?? -Infinity) || byTitle(a, b),
      );
    case "most-practiced":
      return sorted.sort((a, b) => b.practiceMinutes - a.practiceMinutes || byTitle(a, b));
    case "title":
      return sorted.sort(byTitle);
    case "composer":
      return sorted.sort((a, b) => {
        if (!a.composer !== !b.composer) return a.composer ? -1 : 1;
        return collator.compare(a.composer ?? "", b.composer ?? "") || byTitle(a, b);
      });
  }
}

/** Pieces whose title, composer or tags contain `text` (case- and accent-insensitive). */
export function filterPieces(pieces: readonly RepertoirePiece[], text: string): RepertoirePiece[] {
  const needle = fold(text.trim());
  if (!needle) return [...pieces];
  return pieces.filter((p) =>
    [p.title, p.composer ?? "", ...p.tags].some((field) => fold(field).includes(needle)),
  );
}

function fold(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/** `2 h 30 min in 5 sessions`, `Not practised yet`. */
export function practiceSummary(piece: Pick<RepertoirePiece, "practiceMinutes" | "sessions">): string {
  if (piece.sessions === 0) return "Not practised yet";
  const sessions = piece.sessions === 1 ? "1 session" : `${piece.sessions} sessions`;
  return `${formatMinutes(piece.practiceMinutes)} in ${sessions}`;
}

/** `Last practised 25 Nov 2026, 18:30` or `Never practised`. */
export function lastPracticedLabel(lastPracticed: number | null): string {
  return lastPracticed === null ? "Never practised" : `Last practised ${formatDateTime(lastPracticed)}`;
}

/** A tempo history as bars: each point's share (0..1) of the fastest tempo, oldest first. */
export function tempoBars(points: readonly TempoPoint[]): Array<TempoPoint & { share: number }> {
  const fastest = Math.max(0, ...points.map((p) => p.tempo));
  return points.map((p) => ({ ...p, share: fastest > 0 ? p.tempo / fastest : 0 }));
}

/** The first and last tempo and the change between them (`null` with fewer than two points). */
export function tempoTrend(points: readonly TempoPoint[]): { first: number; last: number; change: number } | null {
  const first = points[0];
  const last = points[points.length - 1];
  if (points.length < 2 || !first || !last) return null;
  return { first: first.tempo, last: last.tempo, change: last.tempo - first.tempo };
}

export type PieceDraft = {
  title: string;
  composer: string;
  status: PieceStatus;
  /** `""` for none, else `"1"`..`"5"`. */
  difficulty: string;
  notes: string;
  /** One URL per line. */
  links: string;
  /** Comma-separated. */
  tags: string;
};

export function emptyPieceDraft(): PieceDraft {
  return { title: "", composer: "", status: "planned", difficulty: "", notes: "", links: "", tags: "" };
}

export function draftFromPiece(piece: RepertoirePiece): PieceDraft {
  return {
    title: piece.title,
    composer: piece.composer ?? "",
    status: piece.status,
    difficulty: piece.difficulty === null ? "" : String(piece.difficulty),
    notes: piece.notes ?? "",
    links: piece.links.join("\n"),
    tags: piece.tags.join(", "),
  };
}

export type PieceErrors = Partial<Record<"title" | "difficulty" | "links" | "form", string>>;

/** The draft as `create_piece` / `update_piece` take it, or the field errors. */
export function pieceDraftToInput(
  draft: PieceDraft,
): { input: PieceInput; errors: null } | { input: null; errors: PieceErrors } {
  const errors: PieceErrors = {};
  const title = draft.title.trim();
  if (!title) errors.title = "A piece needs a title.";
  else if ([...title].length > 200) errors.title = "At most 200 characters.";
  let difficulty: number | null = null;
  if (draft.difficulty !== "") {
    difficulty = Number(draft.difficulty);
    if (!Number.isInteger(difficulty) || difficulty < 1 || difficulty > 5) {
      errors.difficulty = "Difficulty is 1 to 5.";
    }
  }
  const links = draft.links
    .split(/\s+/)
    .map((l) => l.trim())
    .filter(Boolean);
  const bad = links.find((l) => !/^https?:\/\/\S+$/i.test(l));
  if (bad) errors.links = `“${bad}” is not an http(s) link.`;
  if (Object.keys(errors).length > 0) return { input: null, errors };
  return {
    input: {
      title,
      composer: draft.composer.trim() || null,
      status: draft.status,
      difficulty,
      notes: draft.notes.trim() || null,
      links: [...new Set(links)],
      tags: splitList(draft.tags),
    },
    errors: null,
  };
}
