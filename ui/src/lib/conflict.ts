// The conflict dialog's model: a choice per conflicting field (base, mine, theirs, or an
// edited value) turned into a `ConflictResolution`. Pure: unit-tested in conflict.test.ts.

import { editText, fieldLabel, formatDateTime, parseEditText } from "./format";
import type {
  ConflictField,
  ConflictResolution,
  ConflictView,
  DeadLetterView,
  JsonValue,
  Side,
} from "./ipc";

export type Choice = "base" | "mine" | "theirs" | "edit";

export type FieldChoice = {
  choice: Choice;
  /** The text of the merged-value box (starts as the automatic merge's value). */
  text: string;
};

export type Choices = Record<string, FieldChoice>;

/** Every field starts on "mine", its edit box on the automatic merge's value. */
export function initialChoices(view: ConflictView): Choices {
  const choices: Choices = {};
  for (const field of view.fields) {
    choices[field.field] = { choice: "mine", text: editText(field.merged) };
  }
  return choices;
}

/** The value a field's edit box is parsed like: the first side that has one. */
function sample(field: ConflictField): JsonValue {
  for (const value of [field.mine, field.theirs, field.merged, field.base]) {
    if (value !== null) return value;
  }
  return null;
}

/**
 * The resolution the per-field choices make: `fields` when every field takes mine or
 * theirs, otherwise `edited` with this device's whole state and the chosen values on top.
 * Errors name the field whose choice cannot be used.
 */
export function resolutionFromChoices(
  view: ConflictView,
  choices: Choices,
): { resolution: ConflictResolution } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const sides: { [key: string]: Side } = {};
  let simple = true;
  const values: Record<string, JsonValue | undefined> = {};
  for (const field of view.fields) {
    const chosen = choices[field.field] ?? { choice: "mine", text: "" };
    switch (chosen.choice) {
      case "mine":
      case "theirs":
        sides[field.field] = chosen.choice;
        values[field.field] = chosen.choice === "mine" ? field.mine : view.theirs[field.field];
        break;
      case "base":
        simple = false;
        if (!view.baseKnown) {
          errors[field.field] = "The base value is not known: choose another.";
        } else {
          values[field.field] = field.base;
        }
        break;
      case "edit": {
        simple = false;
        const parsed = parseEditText(chosen.text, sample(field));
        if ("error" in parsed) errors[field.field] = parsed.error;
        else values[field.field] = parsed.value;
        break;
      }
    }
  }
  if (Object.keys(errors).length > 0) return { errors };
  if (simple) return { resolution: { kind: "fields", choices: sides } };
  const state: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(view.mine)) {
    if (value !== undefined) state[key] = value;
  }
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete state[key];
    else state[key] = value;
  }
  return { resolution: { kind: "edited", state } };
}

/** A line naming the conflicted entity: its title or pieces, else its time. */
export function conflictTitle(view: ConflictView): string {
  const state = Object.keys(view.mine).length > 0 ? view.mine : view.theirs;
  return stateTitle(state) ?? view.entityId;
}

/** What an entity's (partial) state is about: its title or pieces, else its time; `null`. */
export function stateTitle(state: { [key: string]: JsonValue | undefined }): string | null {
  const title = state["title"];
  if (typeof title === "string" && title) return title;
  const pieces = state["pieces"];
  if (Array.isArray(pieces) && pieces.length > 0) {
    const titles = pieces
      .map((p) =>
        typeof p === "object" && p !== null && !Array.isArray(p) ? p["title"] : undefined,
      )
      .filter((t): t is string => typeof t === "string");
    if (titles.length > 0) return titles.join(", ");
  }
  const timestamp = state["timestamp"];
  if (typeof timestamp === "string") return `Entry of ${formatDateTime(timestamp)}`;
  return null;
}

const ENTITY_LABELS = { logbook: "Logbook entry", repertoire: "Repertoire item", goals: "Goal" };

export function entityLabel(view: Pick<ConflictView, "entityType">): string {
  return ENTITY_LABELS[view.entityType];
}

const OPERATION_LABELS = { create: "created", update: "edited", delete: "deleted" };

/** What a refused change was: `Logbook entry · edited 25 Nov 2026, 07:56`. */
export function deadLetterAction(
  letter: Pick<DeadLetterView, "entityType" | "operation" | "editedAt">,
): string {
  return `${entityLabel(letter)} · ${OPERATION_LABELS[letter.operation]} ${formatDateTime(letter.editedAt)}`;
}

/** `Minutes, Notes`: the conflicting fields for people. */
export function conflictFieldsSummary(view: ConflictView): string {
  return view.fields.map((f) => fieldLabel(f.field)).join(", ");
}
