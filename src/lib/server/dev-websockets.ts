/**
 * `vite dev` only: serves the app's WebSocket route with `ws`, because
 * upgrade requests never reach SvelteKit in Node. vite.config.ts loads this
 * module through Vite, so it shares the manager with the rest of the app.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, serveSocket } from './realtime';
import { sameOrigin } from './same-origin';
import { startSandbox } from './sandboxes';
import { ownedSandbox, readVisitor } from './visitor';

const server = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

export async function acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
	// Not URI-decoded: IDs are plain DNS labels, so an encoded one is none of ours (and a stray `%`
	// would make decodeURIComponent throw).
	const id = /^\/api\/sandbox\/([^/?]+)\/ws/.exec(req.url ?? '')?.[1] ?? '';
	const template = sameOrigin(req.headers.origin, req.headers.host)
		? await ownedSandbox(await readVisitor(req.headers.cookie), id)
		: null;
	if (!template) {
		socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 15\r\nconnection: close\r\n\r\nNo such sandbox');
		return;
	}
	startSandbox({ url: new URL(`http://${req.headers.host}`), platform: undefined }, id, template);
	server.handleUpgrade(req, socket, head, (ws) => {
		// A frame `ws` cannot read (invalid UTF-8, over maxPayload, bad framing) is an 'error' event:
		// ws has already closed the socket with the matching code (1007, 1009, 1002), and with no
		// listener the event would be thrown — taking the whole dev server down for one client.
		ws.on('error', () => {});
		serveSocket(id, ws, {
			onMessage: (listener) => ws.on('message', (data) => listener(data)),
			onClose: (listener) => ws.on('close', listener)
		});
	});
}
