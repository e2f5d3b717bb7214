import adapter from '@sveltejs/adapter-cloudflare';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter(),
		typescript: {
			// Type-check the sandbox runtime along with the app.
			config: (tsconfig) => ({ ...tsconfig, include: [...tsconfig.include, '../sandbox/**/*.ts'] })
		},
		alias: {
			// The sandbox runtime and templates live beside the app, not inside src/.
			$sandbox: 'sandbox'
		}
	}
};

export default config;
