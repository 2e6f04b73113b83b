// Transient messages (saved, deleted, errors) shown in the "Notifications" region. Errors
// stay until dismissed; other messages fade after a while; one may carry an action
// (`Undo`, `Review conflict`).

import type { IpcFailure } from "../ipc";

export type NoticeKind = "info" | "success" | "error" | "warning";

export type Notice = {
  id: number;
  kind: NoticeKind;
  text: string;
  /** Smaller second line (an error code, what to do). */
  detail?: string | undefined;
  action?: { label: string; run: () => void } | undefined;
};

export type NoticeOptions = {
  detail?: string | undefined;
  action?: Notice["action"];
  /** Milliseconds before it goes by itself; `0`: stays until dismissed. */
  timeout?: number | undefined;
  /** Replaces an earlier notice with the same key (one "Entry deleted" at a time). */
  key?: string | undefined;
};

export const DEFAULT_TIMEOUT_MS = 6000;

export class NotificationStore {
  items = $state<Notice[]>([]);
  #next = 1;
  #timers = new Map<number, ReturnType<typeof setTimeout>>();
  #keys = new Map<string, number>();

  push(kind: NoticeKind, text: string, options: NoticeOptions = {}): number {
    if (options.key) {
      const previous = this.#keys.get(options.key);
      if (previous !== undefined) this.dismiss(previous);
    }
    const id = this.#next++;
    this.items = [...this.items, { id, kind, text, detail: options.detail, action: options.action }];
    if (options.key) this.#keys.set(options.key, id);
    const timeout = options.timeout ?? (kind === "error" ? 0 : DEFAULT_TIMEOUT_MS);
    if (timeout > 0) {
      this.#timers.set(
        id,
        setTimeout(() => this.dismiss(id), timeout),
      );
    }
    return id;
  }

  info(text: string, options?: NoticeOptions): number {
    return this.push("info", text, options);
  }

  success(text: string, options?: NoticeOptions): number {
    return this.push("success", text, options);
  }

  warning(text: string, options?: NoticeOptions): number {
    return this.push("warning", text, options);
  }

  /** An IPC failure: its message, with the code as detail. */
  failure(what: string, failure: IpcFailure, options: NoticeOptions = {}): number {
    return this.push("error", `${what}: ${failure.message}`, {
      detail: failure.retryable ? `${failure.code} · you can try again` : failure.code,
      ...options,
    });
  }

  dismiss(id: number): void {
    const timer = this.#timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(id);
    for (const [key, value] of this.#keys) {
      if (value === id) this.#keys.delete(key);
    }
    this.items = this.items.filter((n) => n.id !== id);
  }

  /** Dismisses the notice pushed with this key, if it is still shown. */
  dismissKey(key: string): void {
    const id = this.#keys.get(key);
    if (id !== undefined) this.dismiss(id);
  }

  clear(): void {
    for (const n of this.items) this.dismiss(n.id);
  }
}

export const notifications = new NotificationStore();
