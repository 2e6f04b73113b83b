// The entry form's model: a draft of text fields (what the inputs hold), made from an entry
// or from "now", checked and turned into an `EntryInput`; IPC field names mapped to the
// form's fields. Pure: unit-tested in entry-form.test.ts.

import { joinList, joinTimestamp, splitList, splitTimestamp, dayOf } from "./format";
import type { Entry, EntryInput, EntryKind, Mood, Piece, TimerView } from "./ipc";

export type PieceDraft = {
  title: string;
  composer: string;
  /** Fields the form does not show, kept as they were. */
  kept: Pick<Piece, "measures" | "tempo" | "scoreId">;
};

export type EntryDraft = {
  date: string;
  time: string;
  /** Text, or a number (or `null` when empty) once a number input is bound to it. */
  minutes: string | number | null;
  type: EntryKind;
  instrument: string;
  pieces: PieceDraft[];
  techniques: string;
  mood: Mood | "";
  notes: string;
  tags: string;
  /**
   * A new entry's Date and Time follow Minutes (the session ends now) until the user edits
   * them: see `followMinutes`. False when editing an entry.
   */
  startFollowsMinutes: boolean;
};

/** Field keys of the form: `date`, `minutes`, ..., `pieces.0.title`; `form` for the rest. */
export type FieldErrors = Record<string, string>;

export const MAX_MINUTES = 1440;
export const MAX_PIECES = 20;

export function emptyPiece(): PieceDraft {
  return { title: "", composer: "", kept: {} };
}

const pad = (n: number) => String(n).padStart(2, "0");

/** The local `date` and `time` of a session of `minutes` ending at `end`. */
export function startOf(end: Date, minutes: number): { date: string; time: string } {
  const start = new Date(end.getTime() - minutes * 60_000);
  return { date: dayOf(start), time: `${pad(start.getHours())}:${pad(start.getMinutes())}` };
}

/** The draft's minutes when they are a whole number in range, else `null`. */
function validMinutes(minutes: EntryDraft["minutes"]): number | null {
  const text = String(minutes ?? "").trim();
  const n = Number(text);
  return text !== "" && Number.isInteger(n) && n >= 1 && n <= MAX_MINUTES ? n : null;
}

/**
 * A new entry's draft: 30 minutes of practice ending now, on the last instrument, with one
 * empty piece row (empty rows are not saved). Its start follows Minutes (`followMinutes`).
 */
export function newDraft(now: Date = new Date(), last?: Pick<Entry, "instrument">): EntryDraft {
  const minutes = 30;
  return {
    ...startOf(now, minutes),
    minutes: String(minutes),
    type: "practice",
    instrument: last?.instrument ?? "",
    pieces: [emptyPiece()],
    techniques: "",
    mood: "",
    notes: "",
    tags: "",
    startFollowsMinutes: true,
  };
}

/**
 * Moves a new entry's start to `now − minutes` (the session ends now), while the user has
 * not edited Date or Time (`startFollowsMinutes`) and Minutes holds a valid number. Called
 * when Minutes changes and again when the entry is saved.
 */
export function followMinutes(draft: EntryDraft, now: Date = new Date()): void {
  if (!draft.startFollowsMinutes) return;
  const minutes = validMinutes(draft.minutes);
  if (minutes === null) return;
  const { date, time } = startOf(now, minutes);
  draft.date = date;
  draft.time = time;
}

/** The user set Date or Time: they stay as set from now on. */
export function startEdited(draft: EntryDraft): void {
  draft.startFollowsMinutes = false;
}

/**
 * A new entry's draft from a stopped practice timer: it started when the session started
 * (local date and time, which stay as they are), lasted the session's minutes, with the
 * pieces practised (their tempo and repertoire id kept), on the last instrument.
 */
export function draftFromTimer(view: TimerView, last?: Pick<Entry, "instrument">): EntryDraft {
  const start = new Date(view.startedAt);
  const pieces: PieceDraft[] = view.pieces.map((p) => ({
    title: p.title,
    composer: p.composer ?? "",
    kept: { measures: p.measures ?? null, tempo: p.tempo ?? null, scoreId: p.scoreId ?? null },
  }));
  return {
    date: dayOf(start),
    time: `${pad(start.getHours())}:${pad(start.getMinutes())}`,
    minutes: String(view.minutes),
    type: "practice",
    instrument: last?.instrument ?? "",
    pieces: pieces.length > 0 ? pieces : [emptyPiece()],
    techniques: "",
    mood: "",
    notes: "",
    tags: "",
    startFollowsMinutes: false,
  };
}

export function draftFromEntry(entry: Entry): EntryDraft {
  const { date, time } = splitTimestamp(entry.timestamp);
  return {
    date,
    time,
    minutes: String(entry.duration),
    type: entry.type,
    instrument: entry.instrument ?? "",
    pieces: entry.pieces.map((p) => ({
      title: p.title,
      composer: p.composer ?? "",
      kept: { measures: p.measures ?? null, tempo: p.tempo ?? null, scoreId: p.scoreId ?? null },
    })),
    techniques: joinList(entry.techniques),
    mood: entry.mood ?? "",
    notes: entry.notes ?? "",
    tags: joinList(entry.tags),
    startFollowsMinutes: false,
  };
}

const orNull = (text: string) => (text.trim() === "" ? null : text.trim());

/**
 * The draft as an `EntryInput`, or the errors found before asking the shell (which checks
 * everything again and names the field it refuses: see `fieldKey`).
 */
export function draftToInput(
  draft: EntryDraft,
):
  | { input: EntryInput; pieceRows: number[]; errors?: undefined }
  | { input?: undefined; pieceRows?: undefined; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const timestamp = joinTimestamp(draft.date, draft.time);
  if (!draft.date) errors["date"] = "Enter the date.";
  else if (!draft.time) errors["time"] = "Enter the time.";
  else if (timestamp === null) errors["date"] = "Enter a valid date and time.";

  const minutesText = String(draft.minutes ?? "").trim();
  const minutes = Number(minutesText);
  if (minutesText === "" || !Number.isInteger(minutes)) {
    errors["minutes"] = "Enter the minutes as a whole number.";
  } else if (minutes < 1 || minutes > MAX_MINUTES) {
    errors["minutes"] = `Enter between 1 and ${MAX_MINUTES} minutes.`;
  }

  const pieces: Piece[] = [];
  const pieceRows: number[] = [];
  draft.pieces.forEach((piece, i) => {
    const title = piece.title.trim();
    const composer = orNull(piece.composer);
    if (!title && !composer) return; // an empty row is ignored
    if (!title) {
      errors[`pieces.${i}.title`] = "Enter the piece's title (or remove the piece).";
      return;
    }
    pieces.push({ ...piece.kept, title, composer });
    pieceRows.push(i);
  });

  if (Object.keys(errors).length > 0 || timestamp === null) return { errors };
  return {
    pieceRows,
    input: {
      timestamp,
      duration: minutes,
      type: draft.type,
      instrument: orNull(draft.instrument),
      pieces,
      techniques: splitList(draft.techniques),
      mood: draft.mood === "" ? null : draft.mood,
      notes: orNull(draft.notes),
      tags: splitList(draft.tags),
    },
  };
}

/**
 * The form field an IPC `invalid` error's `field` is about: `timestamp` → `date`,
 * `duration` → `minutes`, `pieces[2].title` → `pieces.2.title`, `tags[3]` → `tags`, ...;
 * `form` when the form has no such field. `pieceRows`: the form row of each sent piece.
 */
export function fieldKey(field: string | null, pieceRows: readonly number[] = []): string {
  if (!field) return "form";
  const piece = /^pieces\[(\d+)\]\.(title|composer)$/.exec(field);
  if (piece) {
    const sent = Number(piece[1]);
    return `pieces.${pieceRows[sent] ?? sent}.${piece[2]}`;
  }
  const base = field.replace(/[[.].*$/, "");
  switch (base) {
    case "timestamp":
      return "date";
    case "duration":
      return "minutes";
    case "type":
    case "instrument":
    case "pieces":
    case "techniques":
    case "mood":
    case "notes":
    case "tags":
      return base;
    default:
      return "form";
  }
}
