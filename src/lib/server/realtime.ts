/**
 * A browser's WebSocket for one sandbox, whichever server holds it: `ws` in
 * `vite dev`, a `WebSocketPair` in workerd. It only carries state to the
 * browser, for the length of a boot (the client closes it once the sandbox is
 * settled): a message from the browser is a protocol violation, closed with 1008.
 */
import type { ClientSocket } from './manager';
import { sandboxManager } from './sandboxes';

export interface SocketEvents {
	onMessage(listener: () => void): void;
	onClose(listener: () => void): void;
}

/** How often a socket checks, in its own context, for state it has missed (see SandboxManager.connect). */
const SYNC_INTERVAL_MS = 250;

export function serveSocket(id: string, socket: ClientSocket, events: SocketEvents) {
	const { sync, closed } = sandboxManager().connect(id, socket);
	const timer = setInterval(() => {
		if (sync()) clearInterval(timer);
	}, SYNC_INTERVAL_MS);
	events.onMessage(() => socket.close(1008, 'This socket only sends'));
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
