/**
 * Terminals: the `/ws/pty` WebSocket of the real container, which the SDK's `terminal()` and
 * `proxyTerminal()` reach. One pty per session, started on the first connection in the session's
 * working directory with its environment (as the real server does), and shared by every socket of
 * that session; closing a socket leaves the shell running, deleting the session ends it.
 *
 * On a socket: first the pty's recent output (binary), then `{"type":"ready"}`; after that, binary
 * frames are the terminal's output one way and keystrokes the other, and a text frame from the
 * client is a control message (`{"type":"resize","cols","rows"}`). Bad control messages are
 * answered `{"type":"error","message"}`. When the shell exits, the socket is told
 * `{"type":"exit","code"}` and closed, and the next connection starts a new shell.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as v from 'valibot';
import { WebSocketServer, type WebSocket } from 'ws';
import { Pty } from './pty.ts';
import { PtyControl, PtyQuery } from './schemas.ts';
import type { SessionRegistry } from './sessions.ts';

/** Keystrokes and control messages are small; a paste of a page is still far below this. */
const MAX_FRAME_BYTES = 1024 * 1024;
/** Output a slow reader may have queued before the shell is held back. */
const BACKLOG_BYTES = 1024 * 1024;
const PTY_PATH = '/ws/pty';

/** The request's path; null for a target no URL can be made of (its request is answered 400 as any other). */
function pathOf(req: IncomingMessage): string | null {
	try {
		return new URL(req.url ?? '/', 'http://control.invalid').pathname;
	} catch {
		return null;
	}
}

export class Terminals {
	private readonly ptys = new Map<string, Promise<Pty>>();
	/** Every pty whose shell runs, for an exit that cannot wait for promises. */
	private readonly live = new Set<Pty>();
	private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
	private readonly sessions: SessionRegistry;

	constructor(sessions: SessionRegistry) {
		this.sessions = sessions;
	}

	/** `/ws/pty` is the only WebSocket the server speaks: an upgrade elsewhere is an ordinary request. */
	static wantsUpgrade(req: IncomingMessage) {
		return pathOf(req) === PTY_PATH;
	}

	/** The server's `upgrade` event, for the requests `wantsUpgrade` accepted. */
	handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
		const url = new URL(req.url ?? '/', 'http://control.invalid');
		const query = v.safeParse(PtyQuery, Object.fromEntries(url.searchParams));
		if (!query.success) return refuse(socket, '400 Bad Request', query.issues[0].message);
		this.server.handleUpgrade(req, socket, head, (ws) => void this.attach(ws, query.output));
	}

	/** Ends the session's shell, if it has one (the session is being deleted). */
	async close(sessionId: string) {
		const pty = this.ptys.get(sessionId);
		this.ptys.delete(sessionId);
		(await pty?.catch(() => undefined))?.destroy();
	}

	async closeAll() {
		await Promise.all([...this.ptys.keys()].map((sessionId) => this.close(sessionId)));
	}

	killAllNow() {
		for (const pty of this.live) pty.destroy();
	}

	private async attach(ws: WebSocket, query: v.InferOutput<typeof PtyQuery>) {
		ws.on('error', () => {});
		let pty: Pty;
		try {
			pty = await this.open(query);
		} catch (error) {
			const message = `Failed to create PTY: ${(error as Error).message}`;
			ws.send(JSON.stringify({ type: 'error', message }));
			return ws.close(1011, message.slice(0, 120));
		}
		if (ws.readyState !== ws.OPEN) return;

		const send = (data: Buffer) => {
			ws.send(data, { binary: true }, () => {
				if (ws.bufferedAmount < BACKLOG_BYTES) pty.resume();
			});
			if (ws.bufferedAmount >= BACKLOG_BYTES) pty.pause();
		};
		const replay = pty.bufferedOutput();
		if (replay.length > 0) send(replay);
		const stopData = pty.onData(send);
		const stopExit = pty.onExit((code) => {
			ws.send(JSON.stringify({ type: 'exit', code }));
			ws.close(1000, 'The shell exited');
		});
		ws.on('message', (data: Buffer, isBinary) => {
			if (isBinary) return pty.write(data);
			const control = v.safeParse(PtyControl, parseJson(data.toString()));
			if (!control.success) return ws.send(JSON.stringify({ type: 'error', message: `Invalid control message: ${control.issues[0].message}` }));
			pty.resize(control.output.cols, control.output.rows);
		});
		ws.on('close', () => {
			stopData();
			stopExit();
			pty.resume();
		});
		ws.send(JSON.stringify({ type: 'ready' }));
	}

	/** The session's live pty, or a new one where the session's shell stands now. */
	private open(query: v.InferOutput<typeof PtyQuery>): Promise<Pty> {
		const existing = this.ptys.get(query.sessionId);
		if (existing) {
			return existing.then((pty) => (pty.closed ? this.start(query) : pty), () => this.start(query));
		}
		return this.start(query);
	}

	private start(query: v.InferOutput<typeof PtyQuery>): Promise<Pty> {
		const started = (async () => {
			const session = await this.sessions.acquire(query.sessionId);
			const { cwd, env } = await session.withLock(() => session.state());
			const pty = await Pty.start({ cwd, env, cols: query.cols, rows: query.rows, shell: query.shell });
			this.live.add(pty);
			pty.onExit(() => {
				this.live.delete(pty);
				if (this.ptys.get(query.sessionId) === started) this.ptys.delete(query.sessionId);
			});
			return pty;
		})();
		this.ptys.set(query.sessionId, started);
		started.catch(() => {
			if (this.ptys.get(query.sessionId) === started) this.ptys.delete(query.sessionId);
		});
		return started;
	}
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

function refuse(socket: Duplex, status: string, message: string) {
	socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message)}\r\nconnection: close\r\n\r\n${message}`);
}
