import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';
import { writeCatalog } from './sandbox/catalog.ts';
import { sandboxDevServer, templateCatalog } from './dev/vite/plugins.ts';

// The template catalog the app imports, from sandbox/templates/ as it is now (dev, build and tests).
writeCatalog();

export default defineConfig(async ({ mode }) => ({
	plugins: [templateCatalog(), sandboxDevServer(), sveltekit()],
	server: {
		// wrangler's local state (Durable Object storage, traces) changes with every request: not a source.
		watch: { ignored: ['**/.wrangler/**'] },
		// Vite's default lets any *.localhost page read the dev server's answers: preview hosts are
		// *.localhost. The app needs no cross-origin reads at all. (Not `false`: SvelteKit's plugin
		// sets `{ preflightContinue: true }`, which would win the merge; `origin: false` survives it.)
		cors: { origin: false }
	},
	test: {
		include: ['tests/**/*.test.ts'],
		globalSetup: ['tests/helpers/global-setup.ts'],
		// Files side by side: most of a file's time is spent waiting on sandboxes and their clocks
		// (TTLs, deadlines), not on the CPU. On two cores, six at once took 75–83 s, four 100 s.
		maxWorkers: 6,
		// Only under vitest (its mode is 'test'): `vite dev` would load vitest's own Node side.
		sequence: mode === 'test' ? { sequencer: (await import('./tests/helpers/file-order.ts')).SlowestFirst } : {},
		testTimeout: 60_000,
		hookTimeout: 60_000
	}
}));
