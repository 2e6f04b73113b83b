// Vite builds the UI from `ui/` into `dist/` (tauri.conf.json's frontendDist); `npm run dev`
// serves it for `tauri dev` on the fixed port of devUrl. Vitest runs the UI's unit tests.
import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vitest/config";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("./ui"),
  // With `root: "ui"` the plugin would look for its config there: name it explicitly.
  plugins: [svelte({ configFile: here("./svelte.config.js") })],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**", "**/target/**"] },
  },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    outDir: here("./dist"),
    emptyOutDir: true,
    // WebKitGTK 2.40+ (Linux), WebView2 (Windows), Safari 15+ (macOS).
    target: "es2022",
    sourcemap: Boolean(process.env.TAURI_ENV_DEBUG),
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
