// Runs inside a sandbox, reached only through preview URLs ({port}-{id}-{token}.{app host}).
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
	plugins: [vue()],
	// node_modules is a read-only link to the dependencies installed ahead of time: cache elsewhere.
	cacheDir: '/tmp/vite-cache',
	server: {
		host: '0.0.0.0',
		port: 5173,
		strictPort: true,
		// Requests arrive with the preview host (WebSockets keep it; HTTP gets X-Forwarded-Host).
		allowedHosts: true
	}
});
