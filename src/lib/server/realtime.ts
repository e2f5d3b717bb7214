/**
 * A browser's WebSocket for one sandbox, whichever server holds it: `ws` in
 * `vite dev`, a `WebSocketPair` in workerd. Messages from the browser are
 * validated; anything unexpected closes the socket with 1008.
 */
import * as v from 'valibot';
import type { ClientSocket } from './manager';
import { sandboxManager } from './sandboxes';

/** The only message a browser sends: a keep-alive that marks the sandbox as in use. */
const BrowserMessage = v.object({ type: v.literal('ping') });

export interface SocketEvents {
	onMessage(listener: (data: unknown) => void): void;
	onClose(listener: () => void): void;
}

/** How often a socket checks, in its own context, for state it has missed (see SandboxManager.connect). */
const SYNC_INTERVAL_MS = 250;

export function serveSocket(id: string, socket: ClientSocket, events: SocketEvents) {
	const { activity, sync, closed } = sandboxManager().connect(id, socket);
	const timer = setInterval(() => {
		if (sync()) clearInterval(timer);
	}, SYNC_INTERVAL_MS);
	events.onMessage((data) => {
		if (typeof data === 'string' && data.length <= 1024 && v.is(BrowserMessage, parseJson(data))) {
			activity();
		} else {
			socket.close(1008, 'Unexpected message');
		}
	});
	events.onClose(() => {
		clearInterval(timer);
		closed();
	});
}

/** Whether a WebSocket handshake comes from this app's own pages (not another site's). */
export function sameOrigin(origin: string | null | undefined, host: string | null | undefined): boolean {
	if (!origin) return true; // Not a browser: cookies decide.
	try {
		return new URL(origin).host === host;
	} catch {
		return false;
	}
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}
