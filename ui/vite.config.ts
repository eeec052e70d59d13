import { defineConfig } from 'vite';

// Built into ui/dist, which sdnd embeds at compile time (crates/sdnd/build.rs).
// `npm run dev` proxies the API to a local sdnd (SDND_URL, default https://127.0.0.1:8006).
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: { '/api2': { target: process.env.SDND_URL ?? 'https://127.0.0.1:8006', secure: false } },
  },
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
  },
} as Parameters<typeof defineConfig>[0]);
