/// <reference types="vitest/config" />
// One build for two pages: the app (index.html) and GraphiQL (graphiql.html), written into
// the hushcut-api package so the API serves them without Node (see hushcut/api/web.py).
import { resolve } from "node:path";
import { defineConfig } from "vite";

export const OUT_DIR = resolve(__dirname, "../api/src/hushcut/api/web_dist");

/** `npm run dev` serves the source and passes API paths to a running `hushcut up`. */
const API = process.env.HUSHCUT_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  server: {
    proxy: Object.fromEntries(
      ["/graphql", "/auth", "/storage", "/webhooks", "/api"].map((path) => [
        path,
        { target: API, ws: path === "/graphql" },
      ]),
    ),
  },
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: OUT_DIR,
    emptyOutDir: true,
    target: "es2020",
    // Everything is a file on this origin: the CSP allows no inline script or style.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      // GraphiQL's Radix dependencies mark modules "use client" (a React server hint).
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      input: {
        index: resolve(__dirname, "index.html"),
        graphiql: resolve(__dirname, "graphiql.html"),
      },
    },
  },
  test: {
    include: ["src/**/*.test.{ts,tsx}"],
    environment: "node",
  },
});
