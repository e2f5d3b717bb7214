// Runs inside a sandbox, reached only through preview URLs ({port}-{id}-{token}.{app host}).
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

/**
 * GET /__sandbox/hmr answers how many browsers are connected to the HMR socket. The app asks after
 * saving a file: with none, nobody would see the hot update, so it reloads the preview instead.
 * The update itself needs no help: Vite's file watcher sees the write.
 */
const hmrStatus = {
	name: 'sandbox-hmr-status',
	configureServer(server) {
		server.middlewares.use('/__sandbox/hmr', (_request, response) => {
			response.setHeader('content-type', 'application/json');
			response.setHeader('cache-control', 'no-store');
			response.end(JSON.stringify({ clients: server.ws.clients.size }));
		});
	}
};

export default defineConfig({
	plugins: [vue(), hmrStatus],
	// node_modules is a read-only link to the dependencies installed ahead of time: cache elsewhere.
	// (The native config loader, in template.json's start command, writes no temp file there either.)
	cacheDir: '/tmp/vite-cache',
	server: {
		host: '0.0.0.0',
		port: Number(process.env.PORT ?? 5173),
		strictPort: true,
		// Requests arrive with the preview host (WebSockets keep it; HTTP gets X-Forwarded-Host).
		allowedHosts: true
	}
});
