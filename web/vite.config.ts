// The dashboard is served by the SIGMAX API itself (src/sigmax/api/dashboard.py), so the build
// goes straight into the Python package; `npm run dev` proxies the API of a local `sigmax run`.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/sigmax/api/dashboard_dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    // One chunk is smallest for this page; lightweight-charts is most of it.
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", ws: true },
    },
  },
});
