/**
 * `vite dev` only: upgrade requests never reach SvelteKit in Node, so the dev server plugin
 * (plugins.ts) hands the WebSocket routes here — the status socket and the terminal. It checks
 * the request as the workerd routes do, then joins the browser's socket (`ws`) to one from the
 * sandbox's coordinator, reached through wrangler's platform proxy: the same Durable Object, and
 * the same messages, as in workerd.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, TERMINAL_PATH, type CoordinatorNamespace } from '../../src/lib/server/durable-objects/contract.ts';
import { sameOrigin } from '../../src/lib/server/same-origin.ts';
import { templateOfId } from '../../src/lib/server/sandbox-ids.ts';
import { readVisitor, signingSecret } from '../../src/lib/server/visitor.ts';

/** The coordinator's end of the socket, as the platform proxy hands it over. */
interface ProxiedWebSocket {
	accept(): void;
	send(data: string | ArrayBuffer): void;
	close(code?: number, reason?: string): void;
	addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
	addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}

// `ws` closes frames it cannot read itself: 1009 over maxPayload, 1007 for invalid UTF-8.
const server = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

export async function acceptUpgrade(env: { Coordinator: CoordinatorNamespace }, req: IncomingMessage, socket: Duplex, head: Buffer) {
	// A head that `ws` would refuse is refused before the coordinator opens a socket for it.
	if (!isWebSocketHandshake(req)) return refuse(socket, '400 Bad Request', 'Not a WebSocket handshake');
	// Not URI-decoded: IDs are plain DNS labels, so an encoded one is none of ours (and a stray `%`
	// would make decodeURIComponent throw).
	const [, id = '', route] = /^\/api\/sandbox\/([^/?]+)\/(ws|terminal)/.exec(req.url ?? '') ?? [];
	if (!sameOrigin(req.headers.origin, req.headers.host)) return refuse(socket, '403 Forbidden', 'Cross-origin WebSocket refused');
	const visitor = await readVisitor(req.headers.cookie, new URL(`http://${req.headers.host}`));
	const coordinator = (await templateOfId(signingSecret(), id)) && env.Coordinator.get(env.Coordinator.idFromName(id));
	if (!visitor || !coordinator || !(await coordinator.ownedBy(visitor))) return refuse(socket, '404 Not Found', 'No such sandbox');

	const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
	const target = route === 'terminal' ? `https://coordinator${TERMINAL_PATH}${url.search}` : url.href;
	const response = await coordinator.fetch(new Request(target, { headers: { upgrade: 'websocket' } }));
	const upstream = (response as Response & { webSocket?: ProxiedWebSocket }).webSocket;
	if (response.status !== 101 || !upstream) return refuse(socket, `${response.status} ${response.statusText || 'Refused'}`, await response.text());

	// The browser may be gone by now (a closing tab half-closes at once), or go before `ws` has
	// finished the handshake: then ws never calls back, and the coordinator's end, never accepted,
	// must be accepted before it can be closed — closing it as it is throws, outside any handler.
	let joined = false;
	const abandon = () => {
		if (joined) return;
		joined = true;
		settle(() => {
			upstream.accept();
			upstream.close(1000, 'The browser went away');
		});
	};
	socket.once('close', abandon);
	if (socket.destroyed) return abandon();

	server.handleUpgrade(req, socket, head, (browser) => {
		socket.off('close', abandon);
		joined = true;
		// A frame `ws` cannot read is an 'error' event after ws has closed the socket with the
		// matching code; with no listener it would be thrown, taking the dev server down.
		browser.on('error', () => {});
		browser.on('message', (data: Buffer, isBinary) => {
			// The status socket only sends; a terminal takes keystrokes (binary) and resizes (text).
			if (route === 'ws') return browser.close(1008, 'This socket only sends');
			settle(() => upstream.send(isBinary ? new Uint8Array(data).buffer : data.toString()));
		});
		browser.on('close', () => settle(() => upstream.close(1000, '')));
		upstream.addEventListener('message', (event) => browser.send(event.data instanceof ArrayBuffer ? Buffer.from(event.data) : String(event.data)));
		upstream.addEventListener('close', (event) => browser.close(event.code === 1005 || event.code === 1006 ? 1000 : event.code, event.reason));
		// Accepted once both ends listen: the coordinator's first message (the current state) is
		// delivered on accept.
		settle(() => upstream.accept());
	});
}

/** What `ws` checks before it completes a handshake (RFC 6455 §4.2.1): without it, it answers 400 and never calls back. */
function isWebSocketHandshake(req: IncomingMessage): boolean {
	const key = req.headers['sec-websocket-key'];
	return (
		req.method === 'GET' &&
		req.headers.upgrade?.toLowerCase() === 'websocket' &&
		req.headers['sec-websocket-version'] === '13' &&
		typeof key === 'string' &&
		/^[+/0-9A-Za-z]{22}==$/.test(key)
	);
}

/** Runs a call on the coordinator's end, which throws once that end has closed by itself: nothing to do then. */
function settle(call: () => void) {
	try {
		call();
	} catch {
		// Already closed.
	}
}

function refuse(socket: Duplex, status: string, message: string) {
	socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(message)}\r\nconnection: close\r\n\r\n${message}`);
}
