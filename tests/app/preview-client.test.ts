/**
 * The browser's preview client against a real WebSocket server, with fake
 * timers for the grace period, polling and reconnects (socket I/O stays real).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { PreviewClient } from '../../src/lib/preview-client.ts';
import { messageFor, type SandboxSnapshot, type SandboxStatus } from '../../src/lib/sandbox-state.ts';

const realSetImmediate = setImmediate;

function snapshot(status: SandboxStatus, steps = 1): SandboxSnapshot {
	return {
		id: 'express-test',
		template: 'express',
		status,
		steps: Array.from({ length: steps }, (_, i) => ({ label: `step ${i}`, state: 'done', startedAt: 0, durationMs: 1 })),
		previewUrl: status === 'ready' ? 'http://3001-express-test-tok.localhost:5173/' : null,
		previewAccess: 'private',
		error: status === 'error' ? { message: 'nope', retryable: true } : null,
		problem: null
	};
}

/** Lets real I/O happen until `condition` holds (fake timers do not move meanwhile). */
async function until(condition: () => boolean, what: string) {
	for (let i = 0; i < 2000; i++) {
		if (condition()) return;
		await new Promise((resolve) => realSetImmediate(resolve));
	}
	throw new Error(`timed out waiting for ${what}`);
}

let server: WebSocketServer;
let sockets: ServerSocket[];
let onConnection: (socket: ServerSocket) => void;
let client: PreviewClient;
let polls: number;
/** The versions of the states the server side sends (a message, a poll's answer): one more each. */
let version: number;
let pollAnswer: string;

/** A message as the server sends it: the state, with the next version. */
const message = (state: SandboxSnapshot) => JSON.stringify(messageFor(state, ++version));
/** From now on, polls answer with this state (and its version). */
const answerPolls = (state: SandboxSnapshot) => (pollAnswer = message(state));

function newClient() {
	const { port } = server.address() as { port: number };
	client = new PreviewClient({
		webSocketUrl: `ws://127.0.0.1:${port}/`,
		poll: async () => {
			polls++;
			return JSON.parse(pollAnswer);
		},
		pollFallbackDelay: 5000,
		pollInterval: 5000,
		reconnectDelay: 2000
	});
	const seen: SandboxSnapshot[] = [];
	client.on('state', (state) => seen.push(state));
	return seen;
}

beforeEach(async () => {
	vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
	polls = 0;
	version = 0;
	answerPolls(snapshot('initializing', 2));
	sockets = [];
	onConnection = () => {};
	server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
	server.on('connection', (socket) => {
		sockets.push(socket);
		onConnection(socket);
	});
	await new Promise((resolve) => server.once('listening', resolve));
});

afterEach(async () => {
	client?.destroy();
	vi.useRealTimers();
	for (const socket of sockets) socket.terminate();
	await new Promise((resolve) => server.close(resolve));
});

describe('PreviewClient', () => {
	it('falls back to polling when the WebSocket stays silent past the grace period', async () => {
		const seen = newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');

		await vi.advanceTimersByTimeAsync(4999);
		expect(polls).toBe(0);
		await vi.advanceTimersByTimeAsync(1);
		expect(polls).toBe(1);
		await vi.advanceTimersByTimeAsync(5000);
		expect(polls).toBe(2);
		expect(seen.at(-1)?.steps).toHaveLength(2);

		answerPolls(snapshot('ready', 3));
		await vi.advanceTimersByTimeAsync(5000);
		expect(seen.at(-1)?.status).toBe('ready');
		// Ready: no more polls; the socket, silent so far, stays to follow the app.
		await vi.advanceTimersByTimeAsync(60_000);
		expect(polls).toBe(3);
		expect(sockets[0].readyState).toBe(sockets[0].OPEN);
		expect(vi.getTimerCount()).toBe(0);
	});

	it('never polls while the WebSocket delivers', async () => {
		onConnection = (socket) => socket.send(message(snapshot('initializing', 2)));
		const seen = newClient();
		let ready: SandboxSnapshot | undefined;
		client.on('ready', (state) => (ready = state));
		client.start(snapshot('initializing'), 0);
		await until(() => seen.length === 2, 'the first message');

		await vi.advanceTimersByTimeAsync(12_000);
		sockets[0].send(message(snapshot('ready', 4)));
		await until(() => ready !== undefined, 'ready');
		await vi.advanceTimersByTimeAsync(60_000);

		expect(polls).toBe(0);
		expect(ready?.previewUrl).toContain('3001-express-test');
		// Ready, it goes on listening (for the app's problems, a restart, a stop), on the socket alone.
		expect(sockets[0].readyState).toBe(sockets[0].OPEN);
		expect(vi.getTimerCount()).toBe(0);
	});

	it('still polls when the WebSocket only sends a handshake', async () => {
		onConnection = (socket) => {
			socket.send(JSON.stringify({ type: 'connected' }));
			socket.send('not json');
		};
		newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');
		await new Promise((resolve) => realSetImmediate(resolve));
		await vi.advanceTimersByTimeAsync(5000);
		expect(polls).toBe(1);
	});

	it('stops polling once the WebSocket comes alive', async () => {
		const seen = newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');
		await vi.advanceTimersByTimeAsync(5000);
		expect(polls).toBe(1);

		sockets[0].send(message(snapshot('initializing', 3)));
		await until(() => seen.at(-1)?.steps.length === 3, 'the message');
		await vi.advanceTimersByTimeAsync(30_000);
		expect(polls).toBe(1);
	});

	it('reconnects when the WebSocket drops before the sandbox settles', async () => {
		onConnection = (socket) => {
			if (sockets.length === 1) socket.close();
			else socket.send(message(snapshot('ready')));
		};
		const seen = newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the first connection');
		// Step fake time in small slices: the socket's own close handshake also runs on timers.
		for (let elapsed = 0; sockets.length < 2 && elapsed < 4000; elapsed += 250) {
			await vi.advanceTimersByTimeAsync(250);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		expect(sockets).toHaveLength(2);
		await until(() => seen.at(-1)?.status === 'ready', 'ready over the second connection');
		expect(sockets).toHaveLength(2);
		expect(polls).toBe(0);
	});

	it('polls when the WebSocket spoke once, then dropped and every reconnect fails — until a socket delivers again', async () => {
		let reconnectsFail = true;
		onConnection = (socket) => {
			if (sockets.length === 1) {
				socket.send(message(snapshot('initializing', 2)));
				socket.close();
			} else if (reconnectsFail) {
				socket.close(); // accepted, then closed without a word
			} else {
				socket.send(message(snapshot('initializing', 4)));
			}
		};
		const seen = newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => seen.length === 2, 'the first message');
		await until(() => sockets[0].readyState === sockets[0].CLOSED, 'the first socket to close');

		// Step fake time in small slices: the sockets' close handshakes also run on timers.
		answerPolls(snapshot('initializing', 3));
		for (let elapsed = 0; polls === 0 && elapsed < 8000; elapsed += 250) {
			await vi.advanceTimersByTimeAsync(250);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		expect(polls).toBe(1);
		expect(sockets.length).toBeGreaterThan(1); // it kept trying the socket meanwhile
		expect(seen.at(-1)?.steps).toHaveLength(3);

		// A reconnect that delivers again stops the polling.
		reconnectsFail = false;
		for (let elapsed = 0; seen.at(-1)?.steps.length !== 4 && elapsed < 8000; elapsed += 250) {
			await vi.advanceTimersByTimeAsync(250);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		expect(seen.at(-1)?.steps).toHaveLength(4);
		const pollsThen = polls;
		await vi.advanceTimersByTimeAsync(30_000);
		expect(polls).toBe(pollsThen);
	});

	it('polls until ready when the socket spoke once and then never again, and then polls no more', async () => {
		onConnection = (socket) => {
			if (sockets.length === 1) socket.send(message(snapshot('initializing', 2)));
			socket.close();
		};
		let ready: SandboxSnapshot | undefined;
		const seen = newClient();
		client.on('ready', (state) => (ready = state));
		client.start(snapshot('initializing'), 0);
		await until(() => seen.length === 2, 'the first message');

		answerPolls(snapshot('ready', 3));
		for (let elapsed = 0; !ready && elapsed < 8000; elapsed += 250) {
			await vi.advanceTimersByTimeAsync(250);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		expect(ready?.status).toBe('ready');
		expect(polls).toBe(1);
		// A poll counts as use: a ready sandbox is followed over the socket (which reconnects) alone.
		await vi.advanceTimersByTimeAsync(60_000);
		expect(polls).toBe(1);
	});

	it('follows a ready sandbox over the socket alone: its problem, its restart, then its stop, which closes everything', async () => {
		const seen = newClient();
		const readies: SandboxSnapshot[] = [];
		client.on('ready', (state) => readies.push(state));
		client.start(snapshot('ready'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');
		const problem = { kind: 'exited' as const, message: 'The app exited with code 1.', log: [], at: 0 };
		sockets[0].send(message({ ...snapshot('ready'), problem }));
		await until(() => seen.at(-1)?.problem !== null, 'the problem');
		sockets[0].send(message({ ...snapshot('initializing'), previewUrl: 'http://3001-express-test-tok.localhost:5173/' }));
		sockets[0].send(message(snapshot('ready', 3)));
		await until(() => readies.length === 2, 'ready again after the restart');
		await vi.advanceTimersByTimeAsync(30_000);
		expect(polls).toBe(0);

		sockets[0].send(message({ ...snapshot('stopped'), error: { message: 'Stopped.', retryable: true } }));
		await until(() => seen.at(-1)?.status === 'stopped', 'the stop');
		await until(() => sockets[0].readyState === sockets[0].CLOSED, 'the socket to close');
		expect(vi.getTimerCount()).toBe(0);
		expect(seen.map((state) => state.status)).toEqual(['ready', 'ready', 'initializing', 'ready', 'stopped']);
	});

	it('reconnects ever more slowly to a ready sandbox whose socket keeps failing, and never polls', async () => {
		onConnection = (socket) => socket.close();
		newClient();
		client.start(snapshot('ready'), 0);
		// Step fake time in small slices: the sockets' close handshakes also run on timers.
		for (let elapsed = 0; elapsed < 60_000; elapsed += 500) {
			await vi.advanceTimersByTimeAsync(500);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		// At a steady 2 s, a minute would be 30 tries; doubling from 2 s, it is 1 + 4 (at 2, 6, 14 and 30 s).
		expect(sockets.length).toBe(5);
		expect(polls).toBe(0);
	});

	it('keeps the newest state, whichever brings it: an older one, from the socket or the page, changes nothing', async () => {
		const seen = newClient();
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');
		const stale = message(snapshot('initializing', 2));
		sockets[0].send(message(snapshot('ready', 3)));
		await until(() => seen.at(-1)?.status === 'ready', 'ready');
		// The page's reload read the state before the socket's last message, and the socket repeats itself.
		client.offer(snapshot('initializing', 2), JSON.parse(stale).version);
		sockets[0].send(stale);
		await vi.advanceTimersByTimeAsync(1000);
		expect(seen.map((state) => state.status)).toEqual(['initializing', 'ready']);

		// A newer one from the page is taken: here, its stop, which closes everything.
		client.offer({ ...snapshot('stopped'), error: { message: 'Stopped.', retryable: true } }, ++version);
		expect(seen.at(-1)?.status).toBe('stopped');
		await until(() => sockets[0].readyState === sockets[0].CLOSED, 'the socket to close');
		expect(vi.getTimerCount()).toBe(0);
	});

	it('follows a restart the page reports while the socket is down, by polling, and not at the next reconnect a minute away', async () => {
		onConnection = (socket) => socket.close();
		const seen = newClient();
		client.start(snapshot('ready'), 0);
		// The socket has failed for a while: its next try is 32 s away.
		for (let elapsed = 0; elapsed < 30_000; elapsed += 500) {
			await vi.advanceTimersByTimeAsync(500);
			await new Promise((resolve) => realSetImmediate(resolve));
		}
		expect(polls).toBe(0);

		client.offer({ ...snapshot('initializing'), previewUrl: 'http://3001-express-test-tok.localhost:5173/' }, ++version);
		answerPolls(snapshot('ready', 2));
		await vi.advanceTimersByTimeAsync(5000);
		expect(polls).toBe(1);
		expect(seen.map((state) => state.status)).toEqual(['ready', 'initializing', 'ready']);
		await vi.advanceTimersByTimeAsync(20_000);
		expect(polls).toBe(1);
	});

	it('opens no connection at all for a sandbox that has stopped', async () => {
		const seen = newClient();
		client.start(snapshot('stopped'), 0);
		await vi.advanceTimersByTimeAsync(30_000);
		expect(seen.map((s) => s.status)).toEqual(['stopped']);
		expect(sockets).toHaveLength(0);
		expect(polls).toBe(0);
	});

	it('clears every timer, socket and listener on destroy', async () => {
		const seen = newClient();
		const unsubscribe = client.on('error', () => {});
		expect(typeof unsubscribe).toBe('function');
		client.start(snapshot('initializing'), 0);
		await until(() => sockets.length === 1, 'the WebSocket');
		await vi.advanceTimersByTimeAsync(5000);
		expect(polls).toBe(1);
		const statesBefore = seen.length;

		client.destroy();
		expect(vi.getTimerCount()).toBe(0);
		await until(() => sockets[0].readyState === sockets[0].CLOSED, 'the socket to close');
		sockets[0].emit('message', 'ignored');
		await vi.advanceTimersByTimeAsync(60_000);
		expect(polls).toBe(1);
		expect(seen).toHaveLength(statesBefore);
	});
});
