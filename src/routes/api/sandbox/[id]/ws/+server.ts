/**
 * The sandbox's WebSocket in workerd: 101 with one end of a WebSocketPair.
 * (In `vite dev`, upgrades never reach SvelteKit: the dev server bridge in
 * vite.config.ts serves them with the same manager.) This route has no
 * +page beside it on purpose: SvelteKit would rebuild the response to add
 * `Vary: Accept`, which a 101 does not survive.
 */
import { requireOwnSandbox } from '$lib/server/access';
import { serveSocket } from '$lib/server/realtime';
import { sameOrigin } from '$lib/server/same-origin';
import { startSandbox } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

interface WorkerWebSocket {
	accept(): void;
	send(text: string): void;
	close(code?: number, reason?: string): void;
	addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
	addEventListener(type: 'close' | 'error', listener: () => void): void;
}
declare const WebSocketPair: { new (): { 0: WorkerWebSocket; 1: WorkerWebSocket } } | undefined;

export const GET: RequestHandler = async ({ request, params, url, platform }) => {
	if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
		return new Response('This endpoint speaks WebSocket only', { status: 426, headers: { upgrade: 'websocket' } });
	}
	if (!sameOrigin(request.headers.get('origin'), url.host)) return new Response('Cross-origin WebSocket refused', { status: 403 });
	const template = await requireOwnSandbox(request, params.id);
	if (typeof WebSocketPair === 'undefined') return new Response('No WebSocketPair in this runtime', { status: 501 });

	startSandbox({ url, platform }, params.id, template);
	const { 0: client, 1: server } = new WebSocketPair();
	server.accept();
	serveSocket(params.id, server, {
		onMessage: (listener) => server.addEventListener('message', (event) => listener(event.data)),
		onClose: (listener) => {
			server.addEventListener('close', listener);
			server.addEventListener('error', listener);
		}
	});
	return new Response(null, { status: 101, webSocket: client } as ResponseInit);
};
