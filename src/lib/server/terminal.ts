/**
 * The terminal in the page: the browser's socket joined to a shell in the sandbox (the SDK's
 * terminal protocol, see `Sandbox.openTerminal`), by the sandbox's coordinator. The relay passes
 * output through as it comes, and from the browser only what the protocol allows: keystrokes
 * (binary frames of bounded size) and resizes (checked). Either side closing closes the other.
 */
import type { WorkerWebSocket } from 'cloudflare:workers';
import * as v from 'valibot';

/** A terminal's size, in character cells: from the query that opens it, or a resize. */
const Cols = v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(500));
const Rows = v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(200));

export const TerminalSize = v.object({
	cols: v.pipe(v.optional(v.string(), '80'), v.transform(Number), Cols),
	rows: v.pipe(v.optional(v.string(), '24'), v.transform(Number), Rows)
});

const Resize = v.strictObject({ type: v.literal('resize'), cols: Cols, rows: Rows });

/** A paste of a few pages; more in one frame is no typing. */
const MAX_KEYSTROKE_BYTES = 64 * 1024;
/** Open terminals per sandbox: each is a shell in it. */
export const MAX_TERMINALS = 4;

export interface RelayHooks {
	/** Keystrokes came: the visitor is using the sandbox. */
	onInput(): void;
	/** The relay ended, whichever side closed. */
	onClose(): void;
}

/** Joins two accepted sockets. */
export function relayTerminal(browser: WorkerWebSocket, shell: WorkerWebSocket, hooks: RelayHooks) {
	// Keystrokes and output are relayed as they come, in order: as ArrayBuffers, not Blobs to be read first.
	browser.binaryType = 'arraybuffer';
	shell.binaryType = 'arraybuffer';
	let open = true;
	const end = (code: number, reason: string) => {
		if (!open) return;
		open = false;
		closeQuietly(browser, code, reason);
		closeQuietly(shell, code, reason);
		hooks.onClose();
	};
	browser.addEventListener('message', ({ data }) => {
		if (typeof data === 'string') {
			const resize = v.safeParse(Resize, parseJson(data));
			if (!resize.success) return end(1008, 'A text message must be a resize');
			return sendQuietly(shell, JSON.stringify(resize.output));
		}
		if (!(data instanceof ArrayBuffer)) return end(1003, 'Keystrokes come as binary messages');
		if (data.byteLength > MAX_KEYSTROKE_BYTES) return end(1009, 'Too much input at once');
		hooks.onInput();
		sendQuietly(shell, data);
	});
	shell.addEventListener('message', ({ data }) => sendQuietly(browser, data));
	for (const socket of [browser, shell]) {
		// 1005 (no code) and 1006 (no close frame) are reported, never sent.
		socket.addEventListener('close', ({ code, reason }) => end(code === 1005 || code === 1006 ? 1000 : code, reason));
		socket.addEventListener('error', () => end(1011, 'The terminal connection failed'));
	}
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

function sendQuietly(socket: WorkerWebSocket, data: string | ArrayBuffer) {
	try {
		socket.send(data);
	} catch {
		// Closed meanwhile: its close event ends the relay.
	}
}

function closeQuietly(socket: WorkerWebSocket, code: number, reason: string) {
	try {
		socket.close(code, reason);
	} catch {
		// Closed already.
	}
}
