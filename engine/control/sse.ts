/**
 * Server-sent events as the SDK's `parseSSEStream` reads them: one `data: <json>` line per
 * event, each followed by a blank line. No event names, ids or retry hints.
 */
import type { ServerResponse } from 'node:http';
import { CORS_HEADERS } from './http.ts';

/**
 * What a slow reader may leave unread before output events are dropped for it: a chatty process
 * must not grow the server's memory through one stalled stream. Its events that end a stream
 * (exit, complete, ready…) are always sent.
 */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

export class EventStream {
	private readonly res: ServerResponse;
	private closed = false;
	private readonly closeListeners: (() => void)[] = [];

	constructor(res: ServerResponse) {
		this.res = res;
		res.writeHead(200, {
			'Content-Type': 'text/event-stream',
			'Cache-Control': 'no-cache',
			Connection: 'keep-alive',
			...CORS_HEADERS
		});
		res.flushHeaders();
		// The client going away (a cancelled `waitForPort`, a closed log stream) ends the stream.
		res.on('close', () => this.markClosed());
	}

	get isClosed() {
		return this.closed;
	}

	/** Calls `listener` once, when the stream ends for whatever reason. */
	onClose(listener: () => void) {
		if (this.closed) listener();
		else this.closeListeners.push(listener);
	}

	send(event: Record<string, unknown>, options: { droppable?: boolean } = {}) {
		if (this.closed) return;
		if (options.droppable && this.res.writableLength > MAX_UNREAD_BYTES) return;
		this.res.write(`data: ${JSON.stringify(event)}\n\n`);
	}

	end() {
		if (this.closed) return;
		this.res.end();
		this.markClosed();
	}

	private markClosed() {
		if (this.closed) return;
		this.closed = true;
		for (const listener of this.closeListeners.splice(0)) listener();
	}
}
