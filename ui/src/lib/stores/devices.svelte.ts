// The account's devices in Settings: the list as the server has it, the Revoke confirm
// step, and errors. A list that could not be read is not shown (never a stale one as if
// it were current).

import { deviceName, sentence } from "../format";
import { account, toFailure, type DeviceView, type IpcFailure } from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

/** The sentence Settings shows for a failed devices call. */
export function devicesProblem(failure: IpcFailure): string {
  switch (failure.code) {
    case "offline":
    case "timeout":
      return "Cannot reach the server: the list of devices is shown once it can be reached.";
    case "signed_out":
      return "Sign in to see this account's devices.";
    default:
      return sentence(failure.message);
  }
}

export class DevicesStore {
  /** `null`: not read (yet), or the last read failed. */
  items = $state<DeviceView[] | null>(null);
  error = $state<string | null>(null);
  loading = $state(false);
  /** The device whose Revoke waits for confirmation. */
  confirming = $state<string | null>(null);
  revoking = $state<string | null>(null);

  #notify: NotificationStore;
  #generation = 0;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  async load(): Promise<void> {
    const generation = ++this.#generation;
    this.loading = true;
    try {
      const items = await account.devices();
      if (generation !== this.#generation) return;
      this.items = items;
      this.error = null;
    } catch (err) {
      if (generation !== this.#generation) return;
      this.items = null;
      this.error = devicesProblem(toFailure(err));
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  /** Signed out: nothing to show. */
  clear(): void {
    this.#generation++;
    this.items = null;
    this.error = null;
    this.loading = false;
    this.confirming = null;
  }

  askRevoke(id: string): void {
    this.confirming = id;
  }

  cancelRevoke(): void {
    this.confirming = null;
  }

  /** Revokes the device waiting for confirmation; the list is the one after it. */
  async confirmRevoke(): Promise<boolean> {
    const id = this.confirming;
    if (!id) return false;
    const name = deviceName(this.items?.find((d) => d.id === id) ?? { name: null });
    this.revoking = id;
    this.#generation++;
    try {
      this.items = await account.revokeDevice(id);
      this.error = null;
      this.confirming = null;
      this.#notify.success(`${name} signed out`);
      return true;
    } catch (err) {
      const failure = toFailure(err);
      this.confirming = null;
      if (failure.code === "not_found") {
        // Gone already: show the list as it is now.
        await this.load();
        this.error = devicesProblem(failure);
      } else {
        if (failure.code === "offline" || failure.code === "timeout") this.items = null;
        this.error = devicesProblem(failure);
      }
      return false;
    } finally {
      this.revoking = null;
      this.loading = false;
    }
  }
}

export const devices = new DevicesStore();
