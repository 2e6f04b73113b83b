// The settings screen's state: the `SettingsView` (kept fresh by `settings-changed`), the
// server and account form fields with their errors, and the theme applied to the page.

import { sentence } from "../format";
import {
  account,
  settings as api,
  toFailure,
  type ConflictStrategy,
  type EntityKind,
  type SettingsView,
  type Theme,
} from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

/** Applies a theme: `data-theme` on the root element; CSS variables do the rest (app.css). */
export function applyTheme(theme: Theme, root: { dataset: DOMStringMap } | null = rootElement()) {
  if (root) root.dataset["theme"] = theme;
}

function rootElement(): HTMLElement | null {
  return typeof document === "undefined" ? null : document.documentElement;
}

/** Fields of the settings forms an `invalid` error may name. */
const FIELDS = ["url", "email", "password"];

export type AccountAction = "register" | "signIn" | "signOut";

export class SettingsStore {
  view = $state<SettingsView | null>(null);
  serverUrl = $state("");
  email = $state("");
  password = $state("");
  /** Errors by field: `url`, `email`, `password`, or `account` / `server` for the rest. */
  errors = $state<Record<string, string>>({});
  busy = $state<string | null>(null);

  #notify: NotificationStore;
  #serverDirty = false;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  async load(): Promise<void> {
    try {
      this.apply(await api.get());
    } catch (err) {
      this.#notify.failure("Cannot read the settings", toFailure(err));
    }
  }

  /** A fresh view (answer or `settings-changed`). */
  apply(view: SettingsView): void {
    this.view = view;
    applyTheme(view.theme);
    if (!this.#serverDirty) this.serverUrl = view.serverUrl;
  }

  /** Forgets a field's error once the user changes the field. */
  clearError(field: string): void {
    if (field in this.errors) {
      const { [field]: _, ...others } = this.errors;
      this.errors = others;
    }
  }

  editServerUrl(url: string): void {
    this.serverUrl = url;
    this.#serverDirty = true;
    delete this.errors["url"];
  }

  async saveServer(): Promise<boolean> {
    // A new server signs out of the old one (the shell decides; its token never goes to
    // the new host): say so.
    const before = this.view?.account ?? null;
    return this.#run("server", "url", () => api.setServerUrl(this.serverUrl.trim()), () => {
      this.#serverDirty = false;
      const signedOut = before !== null && !this.view?.account;
      this.#notify.success(
        signedOut ? "Server saved — signed out of the previous server; sign in again" : "Server saved",
      );
    });
  }

  async register(): Promise<boolean> {
    return this.#signIn("register");
  }

  async signIn(): Promise<boolean> {
    return this.#signIn("signIn");
  }

  async #signIn(action: "register" | "signIn"): Promise<boolean> {
    const { email: _e, password: _p, account: _a, ...others } = this.errors;
    this.errors = others;
    const errors: Record<string, string> = {};
    if (!this.email.trim()) errors["email"] = "Enter your email.";
    if (!this.password) errors["password"] = "Enter your password.";
    if (Object.keys(errors).length > 0) {
      this.errors = { ...others, ...errors };
      return false;
    }
    const credentials = { email: this.email.trim(), password: this.password };
    return this.#run(
      action,
      "account",
      () => (action === "register" ? account.register(credentials) : account.signIn(credentials)),
      () => {
        this.password = "";
        this.#notify.success(action === "register" ? "Account created, signed in" : "Signed in");
      },
    );
  }

  async signOut(): Promise<boolean> {
    return this.#run("signOut", "account", () => account.signOut(), () => {
      this.#notify.info("Signed out");
    });
  }

  async setStrategy(entityType: EntityKind, strategy: ConflictStrategy): Promise<boolean> {
    return this.#run(`strategy-${entityType}`, `strategy-${entityType}`, () =>
      api.setConflictStrategy(entityType, strategy),
    );
  }

  /** Applied at once; put back if the shell refuses it. */
  async setTheme(theme: Theme): Promise<boolean> {
    const before = this.view?.theme;
    applyTheme(theme);
    const ok = await this.#run("theme", "theme", () => api.setTheme(theme));
    if (!ok && before) applyTheme(before);
    return ok;
  }

  async setCloseToTray(enabled: boolean): Promise<boolean> {
    return this.#run("closeToTray", "closeToTray", () => api.setCloseToTray(enabled));
  }

  /**
   * Runs a settings command: its `invalid` error goes next to the field it names (else to
   * `fallback`), other failures to `fallback` too.
   */
  async #run(
    name: string,
    fallback: string,
    command: () => Promise<SettingsView>,
    done?: () => void,
  ): Promise<boolean> {
    this.busy = name;
    const { [fallback]: _, ...others } = this.errors;
    this.errors = others;
    try {
      this.apply(await command());
      done?.();
      return true;
    } catch (err) {
      const failure = toFailure(err);
      const key =
        failure.code === "email_taken"
          ? "email"
          : failure.code === "invalid" && failure.field && FIELDS.includes(failure.field)
            ? failure.field
            : fallback;
      this.errors = { ...this.errors, [key]: sentence(failure.message) };
      return false;
    } finally {
      this.busy = null;
    }
  }
}

export const settings = new SettingsStore();
