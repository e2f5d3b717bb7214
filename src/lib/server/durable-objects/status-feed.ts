/**
 * How a coordinator's changes reach those who follow them: browsers' status sockets, accepted with
 * the hibernation API (the object may sleep with them open), get every change as a message; a
 * status read waiting for a change (the polling fallback) wakes at the next one.
 */
import type { DurableObjectState, WorkerWebSocket } from 'cloudflare:workers';
import { closeQuietly, sendQuietly } from '../sockets';
import { MAX_MESSAGE_BYTES } from './contract';

export class StatusFeed {
	private readonly waiters = new Set<() => void>();
	private readonly ctx: Pick<DurableObjectState, 'acceptWebSocket' | 'getWebSockets'>;

	constructor(ctx: Pick<DurableObjectState, 'acceptWebSocket' | 'getWebSockets'>) {
		this.ctx = ctx;
	}

	/** Answers a browser's upgrade: `current` at once, then every change. */
	subscribe(current: string): Response {
		const { 0: client, 1: server } = new WebSocketPair();
		this.ctx.acceptWebSocket(server);
		server.send(current);
		return new Response(null, { status: 101, webSocket: client });
	}

	/** Tells every socket and every waiting read. */
	publish(message: string) {
		for (const socket of this.ctx.getWebSockets()) sendQuietly(socket, message);
		for (const waiter of [...this.waiters]) waiter();
	}

	/** Resolves at the next `publish`, or after `waitMs`. */
	nextChange(waitMs: number): Promise<void> {
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(done);
				resolve();
			};
			const timer = setTimeout(done, waitMs);
			this.waiters.add(done);
		});
	}

	closeAll(reason: string) {
		for (const socket of this.ctx.getWebSockets()) closeQuietly(socket, 1000, reason);
	}
}

/** A message from the browser is a protocol violation: that socket is closed, nothing else. */
export function refuseMessage(socket: WorkerWebSocket, data: string | ArrayBuffer) {
	closeQuietly(socket, ...refusalCode(data));
}

/** Completes the closing handshake the browser began (1005 and 1006 are reported, never sent). */
export function closedByBrowser(socket: WorkerWebSocket, code: number) {
	closeQuietly(socket, code === 1005 || code === 1006 ? 1000 : code, '');
}

/**
 * The close code for a message from the browser: 1009 when it is over the limit, 1007 when it was
 * not UTF-8, 1008 (policy) for any other. workerd hands text over already decoded, with invalid
 * bytes replaced by U+FFFD — a character this socket's nonexistent protocol has no use for, so it
 * is taken as the sign.
 */
function refusalCode(data: string | ArrayBuffer): [code: number, reason: string] {
	const bytes = typeof data === 'string' ? new TextEncoder().encode(data).byteLength : data.byteLength;
	if (bytes > MAX_MESSAGE_BYTES) return [1009, 'Message too big'];
	if (typeof data === 'string' && data.includes('\uFFFD')) return [1007, 'Invalid UTF-8'];
	return [1008, 'This socket only sends'];
}
