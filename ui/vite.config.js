import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The build goes straight into ../pb_public, which the Go binary embeds
// (assets.go). scripts/clean-out.mjs empties it first but keeps the tracked
// dotfiles (the placeholder page a fresh clone serves before the UI is built),
// so emptyOutDir stays off.
export default defineConfig({
  plugins: [svelte()],
  build: {
    outDir: '../pb_public',
    emptyOutDir: false,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
  },
  server: {
    // `npm run dev` talks to a pi-crm server on the default address
    proxy: { '/api': { target: 'http://127.0.0.1:8090', changeOrigin: true } },
  },
});
