/**
 * A browser's WebSocket for one sandbox, whichever server holds it: `ws` in
 * `vite dev`, a `WebSocketPair` in workerd. It only carries state to the
 * browser, for the length of a boot (the client closes it once the sandbox is
 * settled): a message from the browser is a protocol violation, and closes that socket alone
 * (see `refusal`). A hostile frame must never reach further: in `vite dev`, `ws` closes frames
 * it cannot read itself (dev-websockets.ts); in workerd, `refusal` gives the same codes.
 */
import type { ClientSocket } from './manager';
import { sandboxManager } from './sandboxes';

export interface SocketEvents {
	onMessage(listener: (data: unknown) => void): void;
	onClose(listener: () => void): void;
}

/** The largest message a socket reads (`ws`'s maxPayload in dev): the browser sends none at all. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** How often a socket checks, in its own context, for state it has missed (see SandboxManager.connect). */
const SYNC_INTERVAL_MS = 250;

export function serveSocket(id: string, socket: ClientSocket, events: SocketEvents) {
	const { sync, closed } = sandboxManager().connect(id, socket);
	const timer = setInterval(() => {
		if (sync()) clearInterval(timer);
	}, SYNC_INTERVAL_MS);
	events.onMessage((data) => socket.close(...refusal(data)));
	events.onClose(() => {
		clearInterval(timer);
		closed();
	});
}

/**
 * The close code for a message from the browser: 1009 when it is over the limit, 1007 when it was
 * not UTF-8, 1008 (policy) for any other. `ws` applies the first two itself before a message
 * event; workerd hands text over already decoded, with invalid bytes replaced by U+FFFD — a
 * character this socket's nonexistent protocol has no use for, so it is taken as the sign.
 */
function refusal(data: unknown): [code: number, reason: string] {
	const bytes =
		typeof data === 'string' ? new TextEncoder().encode(data).byteLength : data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data.byteLength : 0;
	if (bytes > MAX_MESSAGE_BYTES) return [1009, 'Message too big'];
	if (typeof data === 'string' && data.includes('\uFFFD')) return [1007, 'Invalid UTF-8'];
	return [1008, 'This socket only sends'];
}
