// The settings store: theme, server, account, strategies, and where errors go.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { failure, installWindow, mockShell, settingsView } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";
import { applyTheme, SettingsStore } from "./settings.svelte";

beforeAll(installWindow);
afterEach(() => clearMocks());

function store() {
  const notify = new NotificationStore();
  return { notify, settings: new SettingsStore(notify) };
}

describe("settings", () => {
  it("applies the theme to the root element", () => {
    const root = { dataset: {} as DOMStringMap };
    applyTheme("dark", root);
    expect(root.dataset["theme"]).toBe("dark");
  });

  it("keeps an edited server URL over incoming settings until saved", async () => {
    const shell = mockShell({ set_server_url: ({ url }) => ({ ...settingsView, serverUrl: url as string }) });
    const { settings } = store();
    settings.apply(settingsView);
    expect(settings.serverUrl).toBe("http://127.0.0.1:8080");
    settings.editServerUrl(" https://sync.example.org ");
    settings.apply({ ...settingsView, theme: "dark" });
    expect(settings.serverUrl).toBe(" https://sync.example.org ");
    expect(await settings.saveServer()).toBe(true);
    expect(shell.last("set_server_url")).toEqual({ url: "https://sync.example.org" });
    expect(settings.view?.serverUrl).toBe("https://sync.example.org");
  });

  it("says when a new server signed out of the old one", async () => {
    mockShell({ set_server_url: ({ url }) => ({ ...settingsView, serverUrl: url as string, account: null }) });
    const { settings, notify } = store();
    settings.apply({ ...settingsView, account: { email: "me@example.org", userId: "u1" } });
    settings.editServerUrl("https://other.example.org");
    expect(await settings.saveServer()).toBe(true);
    expect(notify.items.map((n) => n.text)).toEqual([
      "Server saved — signed out of the previous server; sign in again",
    ]);
  });

  it("puts a refused URL next to its field", async () => {
    mockShell({
      set_server_url: () => {
        throw failure("invalid", "not a URL", "url");
      },
    });
    const { settings } = store();
    settings.apply(settingsView);
    expect(await settings.saveServer()).toBe(false);
    expect(settings.errors).toEqual({ url: "Not a URL." });
  });

  it("asks for email and password before signing in", async () => {
    const shell = mockShell({});
    const { settings } = store();
    expect(await settings.signIn()).toBe(false);
    expect(settings.errors).toEqual({ email: "Enter your email.", password: "Enter your password." });
    expect(shell.names()).toEqual([]);
    settings.email = "me@example.org";
    settings.clearError("email");
    expect(settings.errors).toEqual({ password: "Enter your password." });
  });

  it("registers, signs in and out", async () => {
    const account = { email: "me@example.org", userId: "u1" };
    const shell = mockShell({
      register: () => ({ ...settingsView, account }),
      sign_out: () => settingsView,
    });
    const { settings, notify } = store();
    settings.email = " me@example.org ";
    settings.password = "secret";
    expect(await settings.register()).toBe(true);
    expect(shell.last("register")).toEqual({ credentials: { email: "me@example.org", password: "secret" } });
    expect(settings.view?.account).toEqual(account);
    expect(settings.password).toBe("");
    expect(await settings.signOut()).toBe(true);
    expect(settings.view?.account).toBeNull();
    expect(notify.items.map((n) => n.text)).toEqual(["Account created, signed in", "Signed out"]);
  });

  it("shows a taken email at the email field and other refusals under the account", async () => {
    let code = "email_taken";
    mockShell({
      register: () => {
        throw failure(code, code === "email_taken" ? "this email has an account" : "wrong password");
      },
      sign_in: () => {
        throw failure(code, "wrong password");
      },
    });
    const { settings } = store();
    settings.email = "me@example.org";
    settings.password = "secret";
    await settings.register();
    expect(settings.errors).toEqual({ email: "This email has an account." });
    code = "unauthorized";
    await settings.signIn();
    // The earlier error went with the new attempt.
    expect(settings.errors).toEqual({ account: "Wrong password." });
  });

  it("sets strategies, theme and close to tray", async () => {
    let saved = settingsView;
    const save = (next: typeof settingsView) => (saved = next);
    const shell = mockShell({
      set_conflict_strategy: ({ entityType, strategy }) =>
        save({ ...saved, strategies: { ...saved.strategies, [entityType as string]: strategy } }),
      set_theme: ({ theme }) => save({ ...saved, theme: theme as "dark" }),
      set_close_to_tray: ({ enabled }) => save({ ...saved, closeToTray: enabled as boolean }),
    });
    const { settings } = store();
    await settings.setStrategy("goals", "manual");
    await settings.setTheme("dark");
    await settings.setCloseToTray(false);
    expect(shell.names()).toEqual(["set_conflict_strategy", "set_theme", "set_close_to_tray"]);
    expect(settings.view).toMatchObject({
      theme: "dark",
      closeToTray: false,
      strategies: { goals: "manual" },
    });
  });
});
