/**
 * The terminals in the page: the browser's socket joined to a shell in the sandbox (the SDK's
 * terminal protocol, see `Sandbox.openTerminal`), by the sandbox's coordinator, which keeps them in
 * a `Terminals`. The relay passes output through as it comes, and from the browser only what the
 * protocol allows: keystrokes (binary frames of bounded size) and resizes (checked). Either side
 * closing closes the other.
 */
import type { WorkerWebSocket } from 'cloudflare:workers';
import * as v from 'valibot';
import type { Sandbox } from './sandbox/types';
import { closeQuietly, sendQuietly } from './sockets';

/** A terminal's size, in character cells: from the query that opens it, or a resize. */
const Cols = v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(500));
const Rows = v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(200));

const TerminalSize = v.object({
	cols: v.pipe(v.optional(v.string(), '80'), v.transform(Number), Cols),
	rows: v.pipe(v.optional(v.string(), '24'), v.transform(Number), Rows)
});

const Resize = v.strictObject({ type: v.literal('resize'), cols: Cols, rows: Rows });

/** A paste of a few pages; more in one frame is no typing. */
const MAX_KEYSTROKE_BYTES = 64 * 1024;
/** Open terminals per sandbox: each is a shell in it. */
const MAX_TERMINALS = 4;

export interface TerminalHooks {
	/** Keystrokes came: the visitor is using the sandbox (and may be editing the app's files). */
	onInput(): void;
	/** Whether the sandbox has stopped: its sessions went with its container (a call now would wake another). */
	stopped(): boolean;
}

interface RelayHooks {
	onInput(): void;
	/** The relay ended, whichever side closed. */
	onClose(): void;
}

/**
 * One sandbox's open terminals. Not hibernatable, unlike status sockets: each holds a socket into
 * the container.
 */
export class Terminals {
	private readonly browsers = new Set<WorkerWebSocket>();
	/** Asked of the sandbox and not yet open: they count against the limit too. */
	private opening = 0;

	/**
	 * Answers a browser's upgrade (`?cols=&rows=`) with a shell in `cwd`, in a session of its own
	 * that ends when either side closes.
	 */
	async open(sandbox: Sandbox, query: URLSearchParams, cwd: string, hooks: TerminalHooks): Promise<Response> {
		const size = v.safeParse(TerminalSize, Object.fromEntries(query));
		if (!size.success) return new Response(`Terminal size: ${size.issues[0].message}`, { status: 400 });
		if (this.browsers.size + this.opening >= MAX_TERMINALS) return new Response(`At most ${MAX_TERMINALS} terminals can be open at once.`, { status: 429 });
		const sessionId = `terminal-${crypto.randomUUID()}`;
		let shell: WorkerWebSocket;
		this.opening++;
		try {
			shell = await sandbox.openTerminal(sessionId, { cwd, ...size.output });
		} catch (error) {
			console.error('[terminal] opening a terminal failed', error);
			return new Response('The sandbox did not open a terminal. Try again.', { status: 502 });
		} finally {
			this.opening--;
		}
		const { 0: client, 1: browser } = new WebSocketPair();
		browser.accept();
		shell.accept();
		this.browsers.add(browser);
		relay(browser, shell, {
			onInput: hooks.onInput,
			onClose: () => {
				this.browsers.delete(browser);
				if (hooks.stopped()) return;
				sandbox.deleteSession(sessionId).catch((error) => console.warn('[terminal] ending a terminal session failed', error));
			}
		});
		return new Response(null, { status: 101, webSocket: client });
	}

	/** The sandbox stopped. */
	closeAll() {
		for (const browser of this.browsers) closeQuietly(browser, 1000, 'sandbox stopped');
	}
}

/** Joins two accepted sockets. */
function relay(browser: WorkerWebSocket, shell: WorkerWebSocket, hooks: RelayHooks) {
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
