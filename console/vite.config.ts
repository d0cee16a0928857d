// Builds the console into the Python package (local/replica_pipeline_local/cli/console_static), which `replicas console`
// serves. The output is committed, so it must be small and the same for the same source.
import { defineConfig } from "vite";

export default defineConfig({
  // Relative URLs: the page works wherever the loopback server mounts it.
  base: "./",
  build: {
    outDir: "../local/replica_pipeline_local/cli/console_static",
    emptyOutDir: true,
    // Chromium, Firefox and Safari from the last few years; no legacy bundle.
    target: "es2022",
    // One small entry chunk: the modulepreload polyfill would only add bytes.
    modulePreload: { polyfill: false },
    sourcemap: false,
    // No data: URLs for small assets: the server's Content-Security-Policy allows only 'self'.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
