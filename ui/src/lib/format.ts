// Pure formatting and parsing helpers of the UI: durations, days, times, the sync status
// line, lists typed as comma-separated text. No state, no IPC: unit-tested in format.test.ts.

import { format, formatISO, isValid, parse, parseISO } from "date-fns";

import type {
  ConflictStrategy,
  EntryKind,
  Health,
  JsonValue,
  Mood,
  Piece,
  SyncStatusView,
  Theme,
} from "./ipc";

/** `45 min`, `1 h`, `1 h 15 min`. */
export function formatMinutes(minutes: number): string {
  const total = Math.max(0, Math.round(minutes));
  const hours = Math.floor(total / 60);
  const rest = total % 60;
  if (hours === 0) return `${rest} min`;
  if (rest === 0) return `${hours} h`;
  return `${hours} h ${rest} min`;
}

/** A local day `YYYY-MM-DD` as a `Date` at local midnight (`null` if it is not a day). */
export function parseDay(day: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const date = parse(day, "yyyy-MM-dd", new Date());
  return isValid(date) ? date : null;
}

/** `Wednesday, 25 November 2026` for `2026-11-25` (the day as given if it does not parse). */
export function formatDayHeading(day: string): string {
  const date = parseDay(day);
  return date ? format(date, "EEEE, d MMMM yyyy") : day;
}

/** `YYYY-MM-DD` of a date, local. */
export function dayOf(date: Date): string {
  return format(date, "yyyy-MM-dd");
}

/** `HH:mm` (24 h, local) of an RFC 3339 time or epoch milliseconds; `""` if invalid. */
export function formatTime(value: string | number): string {
  const date = typeof value === "number" ? new Date(value) : parseISO(value);
  return isValid(date) ? format(date, "HH:mm") : "";
}

/** `25 Nov 2026, 18:30` (local; with `:05` seconds if asked) of an RFC 3339 time or epoch ms. */
export function formatDateTime(value: string | number, seconds = false): string {
  const date = typeof value === "number" ? new Date(value) : parseISO(value);
  return isValid(date) ? format(date, seconds ? "d MMM yyyy, HH:mm:ss" : "d MMM yyyy, HH:mm") : String(value);
}

/** The local `YYYY-MM-DD` and `HH:mm` of an RFC 3339 time, for date and time inputs. */
export function splitTimestamp(timestamp: string): { date: string; time: string } {
  const date = parseISO(timestamp);
  if (!isValid(date)) return { date: "", time: "" };
  return { date: format(date, "yyyy-MM-dd"), time: format(date, "HH:mm") };
}

/**
 * A local date and time (`YYYY-MM-DD`, `HH:mm`) as RFC 3339 with the local offset
 * (`2026-11-25T18:30:00+01:00`); `null` when either does not parse.
 */
export function joinTimestamp(day: string, time: string): string | null {
  if (!/^\d{2}:\d{2}(:\d{2})?$/.test(time)) return null;
  const date = parse(`${day} ${time.slice(0, 5)}`, "yyyy-MM-dd HH:mm", new Date());
  if (!parseDay(day) || !isValid(date)) return null;
  return formatISO(date);
}

/** `"a, b,, c "` → `["a", "b", "c"]` (trimmed, empties dropped, first spelling of repeats). */
export function splitList(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    const key = item.toLowerCase();
    if (item && !seen.has(key)) {
      seen.add(key);
      out.push(item);
    }
  }
  return out;
}

export function joinList(items: readonly string[]): string {
  return items.join(", ");
}

export const ENTRY_KINDS: ReadonlyArray<{ value: EntryKind; label: string }> = [
  { value: "practice", label: "Practice" },
  { value: "lesson", label: "Lesson" },
  { value: "rehearsal", label: "Rehearsal" },
  { value: "performance", label: "Performance" },
  { value: "technique", label: "Technique" },
  { value: "status_change", label: "Status change" },
];

export const MOODS: ReadonlyArray<{ value: Mood; label: string }> = [
  { value: "frustrated", label: "Frustrated" },
  { value: "neutral", label: "Neutral" },
  { value: "satisfied", label: "Satisfied" },
  { value: "excited", label: "Excited" },
];

export const STRATEGIES: ReadonlyArray<{ value: ConflictStrategy; label: string }> = [
  { value: "merge", label: "Merge" },
  { value: "local", label: "Keep mine" },
  { value: "remote", label: "Keep theirs" },
  { value: "manual", label: "Ask me" },
];

export const THEMES: ReadonlyArray<{ value: Theme; label: string }> = [
  { value: "system", label: "System" },
  { value: "light", label: "Light" },
  { value: "dark", label: "Dark" },
];

export function kindLabel(kind: EntryKind): string {
  return ENTRY_KINDS.find((k) => k.value === kind)?.label ?? kind;
}

export function moodLabel(mood: Mood): string {
  return MOODS.find((m) => m.value === mood)?.label ?? mood;
}

/** `Clair de lune (Debussy)`. */
export function formatPiece(piece: Pick<Piece, "title" | "composer">): string {
  return piece.composer ? `${piece.title} (${piece.composer})` : piece.title;
}

/** `Piano`: instruments are stored lowercased; shown with a capital. */
export function formatInstrument(instrument: string): string {
  return instrument.charAt(0).toUpperCase() + instrument.slice(1);
}

/** What an entry is about, for its list row: the piece titles, or else its type. */
export function entryTitle(entry: { pieces: Piece[]; type: EntryKind }): string {
  return entry.pieces.length > 0
    ? entry.pieces.map((p) => p.title).join(", ")
    : kindLabel(entry.type);
}

// ---------------------------------------------------------------------------------------
// The sync status line.

/** The first word(s) of the status line (docs/ui-contract.md). */
export function syncStateLabel(status: SyncStatusView): string {
  if (status.badge === "conflict") return "Conflict needs you";
  if (status.badge === "error") return "Some changes failed";
  switch (status.connection) {
    case "paused":
      return "Paused";
    case "connecting":
      return "Connecting";
    case "offline":
    case "signedOut":
      return "Offline";
    case "connected":
      return status.badge === "syncing" ? "Syncing" : "Synced";
  }
}

export function healthLabel(health: Health): string {
  return health === "healthy" ? "Healthy" : health === "degraded" ? "Degraded" : "Unhealthy";
}

/** `Last sync 14:05` (today) or `Last sync 24 Nov, 14:05`; `Never synced`. */
export function formatLastSync(lastSyncAt: number | null, now: Date = new Date()): string {
  if (lastSyncAt === null) return "Never synced";
  const at = new Date(lastSyncAt);
  if (!isValid(at)) return "Never synced";
  const sameDay = dayOf(at) === dayOf(now);
  return `Last sync ${sameDay ? format(at, "HH:mm") : format(at, "d MMM, HH:mm")}`;
}

/**
 * When a device was last seen: `just now`, `5 min ago`, `3 h ago` within a day, else the
 * absolute local date and time (`25 Nov 2026, 18:30`). A time ahead of `now` (another
 * clock) counts as just now.
 */
export function formatLastSeen(lastSeenAt: number, now: Date = new Date()): string {
  const at = new Date(lastSeenAt);
  if (!isValid(at)) return "unknown";
  const minutes = Math.floor((now.getTime() - lastSeenAt) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ago`;
  return formatDateTime(lastSeenAt);
}

/** A device's name in the list of devices (the server may have none for it). */
export function deviceName(device: { name: string | null }): string {
  return device.name?.trim() || "Unnamed device";
}

/** The status bar's part for a plain-http remote server (its tooltip explains). */
export const INSECURE_PART = "Not encrypted";

/** One part of the status line: its text, what it is (the bar styles it by that, never by
 * its words) and its tooltip. */
export type StatusPart = {
  text: string;
  kind: "state" | "info" | "insecure" | "error" | "refusal";
  title?: string;
};

/**
 * The parts of the status line, in order: state, [N pending], last sync, [signed out],
 * [not encrypted], [error], [why pending changes wait], health. Nothing pending: no
 * pending part.
 */
export function syncStatusParts(status: SyncStatusView, now: Date = new Date()): StatusPart[] {
  const parts: StatusPart[] = [{ text: syncStateLabel(status), kind: "state" }];
  const info = (text: string) => parts.push({ text, kind: "info" });
  if (status.pending > 0) info(`${status.pending} pending`);
  info(formatLastSync(status.lastSyncAt, now));
  if (status.connection === "signedOut") info("Signed out");
  // The shell decides (a plain http:// server not on this machine); Settings says why.
  if (status.insecureServer) {
    parts.push({
      text: INSECURE_PART,
      kind: "insecure",
      title: "The sync server uses plain http:// and is not on this machine: see Settings",
    });
  }
  // The shell's plain sentence; its raw detail is the part's tooltip.
  if (status.lastError) {
    parts.push({ text: status.lastError.message, kind: "error", title: status.lastError.detail });
  }
  // What holds queued changes up (a full account, a rate limit): they stay queued.
  if (status.pendingRefusal && status.pending > 0) {
    parts.push({ text: status.pendingRefusal.message, kind: "refusal" });
  }
  info(healthLabel(status.health));
  return parts;
}

export function syncStatusLine(status: SyncStatusView, now: Date = new Date()): string {
  return syncStatusParts(status, now)
    .map((part) => part.text)
    .join(" · ");
}

/** A message as a sentence: capital first letter, final full stop (`wrong password` → `Wrong password.`). */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/** `1,234` with the locale's grouping. */
export function formatCount(n: number): string {
  return new Intl.NumberFormat("en-GB").format(n);
}

// ---------------------------------------------------------------------------------------
// Conflict values: shown as text, edited as text.

const FIELD_LABELS: Record<string, string> = {
  timestamp: "Date and time",
  duration: "Minutes",
  type: "Type",
  instrument: "Instrument",
  pieces: "Pieces",
  techniques: "Techniques",
  mood: "Mood",
  notes: "Notes",
  tags: "Tags",
  title: "Title",
  composer: "Composer",
  status: "Status",
  goalIds: "Goals",
};

/** A conflicting field's name for people (`duration` → `Minutes`). */
export function fieldLabel(field: string): string {
  if (FIELD_LABELS[field]) return FIELD_LABELS[field];
  const spaced = field.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/_/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
}

function isPieceLike(value: JsonValue): value is { title: string; composer?: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { title?: unknown }).title === "string"
  );
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** A field value for display; `null` shows as `(empty)`. */
export function formatValue(field: string, value: JsonValue | undefined): string {
  if (value === null || value === undefined) return "(empty)";
  // The practice time to the minute; bookkeeping times (`updatedAt`) to the second.
  if (typeof value === "string" && RFC3339.test(value)) {
    return formatDateTime(value, field !== "timestamp");
  }
  if (field === "duration" && typeof value === "number") return formatMinutes(value);
  if (field === "type" && typeof value === "string") return kindLabel(value as EntryKind);
  if (field === "mood" && typeof value === "string") return moodLabel(value as Mood);
  if (Array.isArray(value)) {
    if (value.length === 0) return "(none)";
    if (value.every((v) => typeof v === "string")) return value.join(", ");
    if (value.every(isPieceLike)) {
      return value
        .map((p) => formatPiece({ title: p.title, composer: p.composer ?? null }))
        .join("; ");
    }
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A value as the text of the "merged value" box. */
export function editText(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return joinList(value as string[]);
  }
  return JSON.stringify(value, null, 2);
}

/**
 * The text of the "merged value" box back as a value shaped like `sample` (one of the
 * sides' values): a number, a list of labels, JSON for structured values, else text
 * (empty text: `null`).
 */
export function parseEditText(
  text: string,
  sample: JsonValue | undefined,
): { value: JsonValue } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { value: Array.isArray(sample) ? [] : null };
  if (typeof sample === "number") {
    const n = Number(trimmed);
    return Number.isInteger(n) ? { value: n } : { error: "Enter a whole number." };
  }
  if (typeof sample === "boolean") {
    if (trimmed === "true" || trimmed === "false") return { value: trimmed === "true" };
    return { error: "Enter true or false." };
  }
  if (Array.isArray(sample) && sample.every((v) => typeof v === "string")) {
    return { value: splitList(trimmed) };
  }
  if (typeof sample === "object" && sample !== null) {
    try {
      return { value: JSON.parse(trimmed) as JsonValue };
    } catch {
      return { error: "Enter valid JSON (as shown in the other columns)." };
    }
  }
  return { value: trimmed };
}
