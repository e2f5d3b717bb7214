import adapter from '@sveltejs/adapter-cloudflare';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// The adapter writes its worker where wrangler.adapter.jsonc says; the deployed worker's entry is
		// src/worker.ts (wrangler.jsonc). In `vite dev`, platform emulation reads the same small config,
		// which has no containers (they need Docker).
		adapter: adapter({ config: 'wrangler.adapter.jsonc', platformProxy: { configPath: 'wrangler.adapter.jsonc' } }),
		typescript: {
			// Type-check the engine, the dev tooling, the template catalog and the benchmark along with the app.
			config: (tsconfig) => ({ ...tsconfig, include: [...tsconfig.include, '../engine/**/*.ts', '../dev/**/*.ts', '../sandbox/**/*.ts', '../bench/**/*.ts'] })
		}
	}
};

export default config;
