/**
 * `vite dev` only: serves the app's WebSocket route with `ws`, because
 * upgrade requests never reach SvelteKit in Node. vite.config.ts loads this
 * module through Vite, so it shares the manager with the rest of the app.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { sameOrigin, serveSocket } from './realtime';
import { startSandbox } from './sandboxes';
import { ownedSandbox, readVisitor } from './visitor';

const server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

export async function acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
	const id = decodeURIComponent(/^\/api\/sandbox\/([^/?]+)\/ws/.exec(req.url ?? '')?.[1] ?? '');
	const cookies = parseCookies(req.headers.cookie);
	const template = sameOrigin(req.headers.origin, req.headers.host)
		? await ownedSandbox(await readVisitor({ get: (name) => cookies.get(name) }), id)
		: null;
	if (!template) {
		socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 15\r\nconnection: close\r\n\r\nNo such sandbox');
		return;
	}
	startSandbox({ url: new URL(`http://${req.headers.host}`), platform: undefined }, id, template);
	server.handleUpgrade(req, socket, head, (ws) => {
		serveSocket(id, ws, {
			onMessage: (listener) => ws.on('message', () => listener()),
			onClose: (listener) => ws.on('close', listener)
		});
	});
}

function parseCookies(header: string | undefined): Map<string, string> {
	const cookies = new Map<string, string>();
	for (const part of header?.split(';') ?? []) {
		const at = part.indexOf('=');
		if (at > 0) cookies.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
	}
	return cookies;
}
