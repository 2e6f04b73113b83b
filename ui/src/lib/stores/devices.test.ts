// The devices store: the list, the Revoke confirm step, the refreshed list after it, and
// errors (offline: no stale list).

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { deviceName, formatLastSeen } from "../format";
import type { DeviceView } from "../ipc";
import { failure, installWindow, mockShell } from "./fixtures";
import { DevicesStore } from "./devices.svelte";
import { NotificationStore } from "./notifications.svelte";

beforeAll(installWindow);
afterEach(() => clearMocks());

const desk: DeviceView = {
  id: "d1",
  name: "Legato desktop (linux)",
  clientId: "c1",
  createdAt: Date.UTC(2026, 10, 20, 9, 0),
  lastSeenAt: Date.UTC(2026, 11, 7, 10, 0),
  current: true,
};
const cli: DeviceView = { ...desk, id: "d2", name: "legato cli (linux)", clientId: null, current: false };

function store() {
  const notify = new NotificationStore();
  return { notify, devices: new DevicesStore(notify) };
}

describe("devices", () => {
  it("lists the devices, revokes after a confirmation and shows the list after it", async () => {
    const shell = mockShell({ list_devices: () => [desk, cli], revoke_device: () => [desk] });
    const { devices, notify } = store();
    await devices.load();
    expect(devices.items).toEqual([desk, cli]);
    expect(await devices.confirmRevoke()).toBe(false);
    expect(shell.names()).toEqual(["list_devices"]);

    devices.askRevoke("d2");
    devices.cancelRevoke();
    expect(devices.confirming).toBeNull();
    devices.askRevoke("d2");
    expect(await devices.confirmRevoke()).toBe(true);
    expect(shell.last("revoke_device")).toEqual({ id: "d2" });
    expect(devices.items).toEqual([desk]);
    expect(devices.confirming).toBeNull();
    expect(notify.items.map((n) => n.text)).toEqual(["legato cli (linux) signed out"]);
  });

  it("offline, says it cannot reach the server and shows no stale list", async () => {
    let online = true;
    mockShell({
      list_devices: () => {
        if (online) return [desk, cli];
        throw failure("offline", "cannot reach the server");
      },
    });
    const { devices } = store();
    await devices.load();
    expect(devices.items).toHaveLength(2);
    online = false;
    await devices.load();
    expect(devices.items).toBeNull();
    expect(devices.error).toMatch(/^Cannot reach the server/);
    online = true;
    await devices.load();
    expect(devices.error).toBeNull();
    expect(devices.items).toHaveLength(2);
  });

  it("a failed revoke says why; an offline one drops the list, a gone device re-reads it", async () => {
    let revoke: () => unknown = () => {
      throw failure("offline", "cannot reach the server");
    };
    mockShell({ list_devices: () => [desk], revoke_device: () => revoke() });
    const { devices } = store();
    devices.items = [desk, cli];
    devices.askRevoke("d2");
    expect(await devices.confirmRevoke()).toBe(false);
    expect(devices.items).toBeNull();
    expect(devices.error).toMatch(/^Cannot reach the server/);

    revoke = () => {
      throw failure("not_found", "no such device: it is signed out already");
    };
    devices.items = [desk, cli];
    devices.askRevoke("d2");
    expect(await devices.confirmRevoke()).toBe(false);
    expect(devices.items).toEqual([desk]);
    expect(devices.error).toBe("No such device: it is signed out already.");
  });

  it("forgets everything on sign-out", async () => {
    mockShell({ list_devices: () => [desk] });
    const { devices } = store();
    await devices.load();
    devices.clear();
    expect(devices.items).toBeNull();
    expect(devices.error).toBeNull();
  });
});

describe("device formatting", () => {
  const now = new Date(Date.UTC(2026, 11, 7, 12, 0));
  it("says when a device was last seen, relative within a day, else the date", () => {
    expect(formatLastSeen(now.getTime() - 20_000, now)).toBe("just now");
    expect(formatLastSeen(now.getTime() + 60_000, now)).toBe("just now");
    expect(formatLastSeen(now.getTime() - 5 * 60_000, now)).toBe("5 min ago");
    expect(formatLastSeen(now.getTime() - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatLastSeen(Date.UTC(2026, 10, 25, 18, 30), now)).toMatch(/^2[56] Nov 2026, \d\d:\d\d$/);
  });
  it("names an unnamed device", () => {
    expect(deviceName({ name: null })).toBe("Unnamed device");
    expect(deviceName({ name: "  " })).toBe("Unnamed device");
    expect(deviceName({ name: "Desk" })).toBe("Desk");
  });
});
