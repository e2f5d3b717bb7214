import { getRequest, setResponse } from '@sveltejs/kit/node';
import { sveltekit } from '@sveltejs/kit/vite';
import type { Plugin, ViteDevServer } from 'vite';
import { defineConfig } from 'vitest/config';
import { localBackendConfigFrom } from './sandbox/local/client.ts';
import { forwardPreviewUpgrade } from './sandbox/local/dev-proxy.ts';
import { parsePreviewHost } from './src/lib/server/sandbox/rules.ts';

/**
 * `vite dev` only. Routes preview hosts to the local sandbox runtime ahead of
 * Vite's own middlewares and HMR listener, and serves the app's WebSocket
 * route (upgrades never reach SvelteKit in Node) with the app's own manager.
 */
function sandboxDevServer(): Plugin {
	return {
		name: 'sandbox-dev-server',
		apply: 'serve',
		configureServer(server) {
			const runtime = () => localBackendConfigFrom(process.env);
			const sandboxes = () => server.ssrLoadModule('/src/lib/server/sandboxes.ts') as Promise<typeof import('./src/lib/server/sandboxes.ts')>;

			// HTTP: through the app's own preview route (the same one hooks.server.ts and the worker use).
			server.middlewares.use(async (req, res, next) => {
				if (!parsePreviewHost(req.headers.host ?? '')) return next();
				try {
					const request = await getRequest({ base: `http://${req.headers.host}`, request: req });
					await setResponse(res, await (await sandboxes()).answerPreview(request));
				} catch (error) {
					next(error);
				}
			});

			// Upgrades: preview hosts to the runtime, the app's WebSocket route to the app, and only the
			// rest to Vite's own HMR listener — which would otherwise also answer a sandboxed Vite's
			// `vite-hmr` handshake on a preview host (with a 400, as its token differs). Vite attaches
			// its listener when the server starts listening, so the listeners are rearranged then.
			const httpServer = server.httpServer;
			httpServer?.once('listening', () => {
				const viteListeners = httpServer.listeners('upgrade') as ((...args: unknown[]) => void)[];
				httpServer.removeAllListeners('upgrade');
				httpServer.on('upgrade', (req, socket, head) => {
					const route = parsePreviewHost(req.headers.host ?? '');
					if (route) {
						void sandboxes().then((module) => module.sandboxManager().touch(route.sandboxId), () => {});
						try {
							forwardPreviewUpgrade(runtime(), req, socket, head);
						} catch {
							socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
						}
					} else if (/^\/api\/sandbox\/[^/?]+\/ws(?:\?|$)/.test(req.url ?? '')) {
						void acceptAppSocket(server, req, socket, head);
					} else {
						for (const listener of viteListeners) listener.call(httpServer, req, socket, head);
					}
				});
			});
		}
	};
}

async function acceptAppSocket(server: ViteDevServer, ...args: Parameters<typeof import('./src/lib/server/dev-websockets.ts').acceptUpgrade>) {
	try {
		const { acceptUpgrade } = await server.ssrLoadModule('/src/lib/server/dev-websockets.ts');
		await acceptUpgrade(...args);
	} catch (error) {
		server.config.logger.error(`[sandbox-dev-server] WebSocket upgrade failed: ${(error as Error).stack}`);
		args[1].destroy();
	}
}

export default defineConfig({
	plugins: [sandboxDevServer(), sveltekit()],
	test: {
		include: ['tests/**/*.test.ts'],
		globalSetup: ['tests/helpers/global-setup.ts'],
		// Tests boot real sandboxes: one file at a time keeps a 2-core machine honest.
		fileParallelism: false,
		testTimeout: 60_000,
		hookTimeout: 60_000
	}
});
