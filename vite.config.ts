import { getRequest, setResponse } from '@sveltejs/kit/node';
import { sveltekit } from '@sveltejs/kit/vite';
import type { Duplex } from 'node:stream';
import type { Plugin, ViteDevServer } from 'vite';
import { defineConfig } from 'vitest/config';
import { normalizeRequestHead } from './src/lib/server/dev-request.ts';
import { localBackendConfigFrom } from './src/lib/server/sandbox/local.ts';
import { forwardPreviewUpgrade } from './src/lib/server/sandbox/local-dev-proxy.ts';
import { isPreviewNamespace, parsePreviewHost } from './src/lib/server/sandbox/rules.ts';

/**
 * `vite dev` only. Ahead of Vite's own middlewares and HMR listener, it refuses malformed
 * request heads (see dev-request.ts) and routes the preview namespace to the local sandbox
 * runtime; it serves the app's WebSocket route (upgrades never reach SvelteKit in Node) with the
 * app's own manager.
 */
function sandboxDevServer(): Plugin {
	return {
		name: 'sandbox-dev-server',
		apply: 'serve',
		configureServer(server) {
			const runtime = () => localBackendConfigFrom(process.env);
			const sandboxes = () => server.ssrLoadModule('/src/lib/server/sandboxes.ts') as Promise<typeof import('./src/lib/server/sandboxes.ts')>;

			// Every request's head is checked (and an absolute-form target made a path) before Vite's
			// middleware stack sees it: SvelteKit's middleware reads `req.originalUrl`, which the stack
			// records before its first middleware runs.
			const httpServer = server.httpServer;
			if (httpServer) {
				const viteRequestListeners = httpServer.listeners('request') as ((...args: unknown[]) => void)[];
				httpServer.removeAllListeners('request');
				httpServer.on('request', (req, res) => {
					const problem = normalizeRequestHead(req);
					if (problem) return res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(problem);
					for (const listener of viteRequestListeners) listener.call(httpServer, req, res);
				});
			}

			// HTTP: through the app's own preview route (the same one hooks.server.ts and the worker use),
			// which answers 404 for a host in the preview namespace that is no valid preview host.
			server.middlewares.use(async (req, res, next) => {
				if (!isPreviewNamespace(req.headers.host!)) return next();
				try {
					const request = await getRequest({ base: `http://${req.headers.host}`, request: req });
					await setResponse(res, await (await sandboxes()).answerPreview(request));
				} catch (error) {
					next(error);
				}
			});

			// Upgrades: the same head checks; preview hosts to the runtime (the rest of the preview
			// namespace gets 404), the app's WebSocket route to the app, and only the rest to Vite's own
			// HMR listener — which would otherwise also answer a sandboxed Vite's `vite-hmr` handshake
			// on a preview host (with a 400, as its token differs). Vite attaches its listener when the
			// server starts listening, so the listeners are rearranged then.
			httpServer?.once('listening', () => {
				const viteListeners = httpServer.listeners('upgrade') as ((...args: unknown[]) => void)[];
				httpServer.removeAllListeners('upgrade');
				httpServer.on('upgrade', (req, socket, head) => {
					// Node takes its own 'error' listener off an upgraded socket: without one, a client that
					// resets the connection while the upgrade is being decided would crash the dev server.
					socket.on('error', () => socket.destroy());
					const problem = normalizeRequestHead(req);
					if (problem) return refuseUpgrade(socket, '400 Bad Request', problem);
					const host = req.headers.host!;
					if (isPreviewNamespace(host)) {
						const route = parsePreviewHost(host);
						if (!route) return refuseUpgrade(socket, '404 Not Found', 'Not a preview host');
						void sandboxes().then((module) => module.sandboxManager().touch(route.sandboxId), () => {});
						try {
							forwardPreviewUpgrade(runtime(), req, socket, head);
						} catch {
							refuseUpgrade(socket, '502 Bad Gateway', 'The sandbox runtime is not reachable');
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

function refuseUpgrade(socket: Duplex, status: string, message: string) {
	const body = Buffer.from(message);
	socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
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
