/**
 * The Vite plugins of `vite dev` (vite.config.ts uses them): the template catalog kept up to date,
 * and the dev server's front door — request heads checked, the preview namespace passed to the
 * companion worker, the app's WebSockets bridged to the coordinators.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Plugin, ViteDevServer } from 'vite';
import { TEMPLATES_DIR, writeCatalog } from '../../sandbox/catalog.ts';
import type { CoordinatorNamespace } from '../../src/lib/server/durable-objects/contract.ts';
import { isPreviewNamespace } from '../../src/lib/server/sandbox/rules.ts';
import { companionReady, forwardPreviewRequest, forwardPreviewUpgrade } from './preview-proxy.ts';
import { normalizeRequestHead } from './request-head.ts';

/** `vite dev` only: a template folder added, removed or with its manifest changed updates the catalog. */
export function templateCatalog(): Plugin {
	return {
		name: 'template-catalog',
		apply: 'serve',
		configureServer(server) {
			server.watcher.add(TEMPLATES_DIR);
			const refresh = (path: string) => {
				if (!path.startsWith(TEMPLATES_DIR) || path.includes('/node_modules/')) return;
				try {
					writeCatalog();
				} catch (error) {
					server.config.logger.error(`[template-catalog] ${(error as Error).message}`);
				}
			};
			for (const event of ['add', 'change', 'unlink', 'addDir', 'unlinkDir']) server.watcher.on(event, refresh);
		}
	};
}

/** What `vite dev`'s platform proxy binds (see wrangler.adapter.jsonc): the companion's coordinators. */
const PLATFORM_CONFIG = 'wrangler.adapter.jsonc';

/**
 * `vite dev` only. Ahead of Vite's own middlewares and HMR listener, it refuses malformed
 * request heads (see request-head.ts), passes the preview namespace to the companion worker in
 * workerd (dev/dev.ts starts it), and bridges the app's status WebSocket route (upgrades
 * never reach SvelteKit in Node) to the sandbox's coordinator.
 */
export function sandboxDevServer(): Plugin {
	return {
		name: 'sandbox-dev-server',
		apply: 'serve',
		configureServer(server) {
			// SvelteKit's adapter has a platform proxy of its own for requests; upgrades need this one.
			let platform: Promise<{ env: { Coordinator: CoordinatorNamespace }; dispose(): Promise<void> }> | undefined;
			const platformEnv = async () => {
				platform ??= import('wrangler').then(({ getPlatformProxy }) => getPlatformProxy({ configPath: PLATFORM_CONFIG }));
				return (await platform).env;
			};
			server.httpServer?.once('close', () => void platform?.then((p) => p.dispose()));

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
					// Until the companion serves, neither the app's Durable Objects nor the previews are there: wait.
					companionReady().then(
						() => {
							for (const listener of viteRequestListeners) listener.call(httpServer, req, res);
						},
						(error: Error) => res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(error.message)
					);
				});
			}

			// CONNECT (a proxy's tunnel) is nothing this server offers: 405, rather than Node's silent close.
			httpServer?.on('connect', (_req: IncomingMessage, socket: Duplex) => {
				socket.on('error', () => socket.destroy());
				refuseUpgrade(socket, '405 Method Not Allowed', 'CONNECT is not served here');
			});

			// HTTP: to the companion, whose preview route (the deployed worker's) answers 404 for a
			// host in the preview namespace that is no valid preview host.
			server.middlewares.use((req, res, next) => {
				if (!isPreviewNamespace(req.headers.host!)) return next();
				forwardPreviewRequest(req, res);
			});

			// Upgrades: the same head checks; the preview namespace to the companion, the app's WebSocket
			// route to the coordinator, and only the rest to Vite's own
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
					if (isPreviewNamespace(req.headers.host!)) {
						void companionReady().then(
							() => forwardPreviewUpgrade(req, socket, head),
							(error: Error) => refuseUpgrade(socket, '503 Service Unavailable', error.message)
						);
					} else if (/^\/api\/sandbox\/[^/?]+\/(?:ws|terminal)(?:\?|$)/.test(req.url ?? '')) {
						void companionReady().then(
							() => acceptAppSocket(server, platformEnv, req, socket, head),
							(error: Error) => refuseUpgrade(socket, '503 Service Unavailable', error.message)
						);
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

async function acceptAppSocket(
	server: ViteDevServer,
	platformEnv: () => Promise<{ Coordinator: CoordinatorNamespace }>,
	req: IncomingMessage,
	socket: Duplex,
	head: Buffer
) {
	try {
		const { acceptUpgrade } = (await server.ssrLoadModule('/dev/vite/app-sockets.ts')) as typeof import('./app-sockets.ts');
		await acceptUpgrade(await platformEnv(), req, socket, head);
	} catch (error) {
		server.config.logger.error(`[sandbox-dev-server] WebSocket upgrade failed: ${(error as Error).stack}`);
		socket.destroy();
	}
}
