/**
 * Sending on and closing a worker's WebSocket without caring whether the other side has gone: a
 * socket closing or closed meanwhile throws, and its close event does the tidying up.
 */
import type { WorkerWebSocket } from 'cloudflare:workers';

export function sendQuietly(socket: WorkerWebSocket, data: string | ArrayBuffer) {
	try {
		socket.send(data);
	} catch {
		// Closing or closed.
	}
}

export function closeQuietly(socket: WorkerWebSocket, code: number, reason: string) {
	try {
		socket.close(code, reason);
	} catch {
		// Closed already.
	}
}
