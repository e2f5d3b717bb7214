/**
 * No client connection can end a server process of the engine: not the engine's own (its API
 * port), nor a container's port forwarder or control server (reached through the forwarded port).
 * Upgrades and CONNECTs (whose sockets Node hands over without its own 'error' listener), resets
 * right after a head, in a body or while an answer is awaited or streaming, half-closes, and heads
 * that are not HTTP: each is refused or answered, and everything stays up.
 */
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_HEADER } from '../../engine/forwarded-head.ts';
import { CONTROL_PORT, startTestEngine, type TestContainer, type TestEngine } from '../helpers/engine.ts';
import { sandboxProcesses } from '../helpers/host.ts';

let engine: TestEngine;
let container: TestContainer;
let enginePort: number;
let serversAtStart: { forwarder: number[]; control: number[] };

/** The PIDs of the container's port forwarder and control server. */
function serverPids() {
	const { processes } = sandboxProcesses(engine.stateDir);
	const pids = (running: (cmdline: string) => boolean) => processes.filter((p) => running(p.cmdline)).map((p) => p.pid);
	return {
		forwarder: pids((cmdline) => cmdline.includes('port-forwarder.mjs')),
		// (bwrap's own command line ends with the same words)
		control: pids((cmdline) => cmdline === '/opt/node/bin/node /opt/sandbox-control/server.mjs')
	};
}

beforeAll(async () => {
	engine = await startTestEngine();
	enginePort = Number(new URL(engine.url).port);
	container = await engine.createContainer('connections');
	serversAtStart = serverPids();
	expect(serversAtStart.forwarder).toHaveLength(1);
	expect(serversAtStart.control).toHaveLength(1);
});
afterAll(async () => {
	await container?.destroy().catch(() => {});
	await engine?.stop();
});

/**
 * How a connection ends after its bytes are sent:
 *   reset-at-once  reset straight after them;
 *   reset          reset once the server has answered something or closed, or after a moment of silence;
 *   half-close     end this side at once, and wait for the server to end its own.
 */
type Ending = 'reset-at-once' | 'reset' | 'half-close';

/** Connects to 127.0.0.1:port, sends `data`, ends as told; answers what came back (or how it ended, when nothing did). */
function connection(port: number, data: string, ending: Ending): Promise<string> {
	return new Promise((resolve) => {
		let reply = '';
		const socket = createConnection(port, '127.0.0.1');
		const done = (how: string) => {
			clearTimeout(timer);
			resolve(reply || how);
		};
		const timer = setTimeout(() => {
			socket.destroy();
			done('still open');
		}, 10_000);
		socket.on('data', (chunk) => (reply += chunk));
		socket.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
		socket.on('close', () => done('closed'));
		socket.once('connect', () => {
			if (data) socket.write(data);
			if (ending === 'half-close') socket.end();
			else if (ending === 'reset-at-once') socket.resetAndDestroy();
			else {
				const silence = setTimeout(() => socket.resetAndDestroy(), 500);
				socket.once('data', () => {
					clearTimeout(silence);
					socket.resetAndDestroy();
				});
			}
		});
	});
}

/**
 * Sends `data` and resets at once, a few times over: whether the reset is heard before the server
 * has done something with the head (and then what) is a race, which a few tries cover.
 */
async function resetAtOnce(port: number, data: string) {
	for (let i = 0; i < 5; i++) await connection(port, data, 'reset-at-once');
}

const engineHead = (request: string, headers: Record<string, string> = {}) =>
	[request, `Host: 127.0.0.1:${enginePort}`, `Authorization: Bearer ${engine.secret}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join(
		'\r\n'
	);
const UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };

/** The engine, the container's forwarder and its control server are all still there and answering. */
async function expectAllUp() {
	// Time for the servers to hear of the reset: a socket nobody listens to for errors throws then.
	await sleep(300);
	const health = await engine.api('/v1/health');
	expect(health.status).toBe(200);
	expect(await health.json()).toMatchObject({ sandboxes: { running: 1 } });
	expect(engine.child.exitCode).toBeNull();
	expect(engine.output()).not.toMatch(/crashed|uncaught|port forwarder exited/i);
	// The container answers through its forward, and its forwarder and control server are the ones it started with.
	expect((await container.exec('echo still here')).stdout).toBe('still here\n');
	expect(await container.status()).toEqual({ running: true, exitCode: null });
	expect(serverPids()).toEqual(serversAtStart);
}

describe("the engine's API port", () => {
	it('refuses an upgrade, with the secret or without, and outlives its reset', async () => {
		const withSecret = engineHead('GET /v1/health HTTP/1.1', UPGRADE);
		expect(await connection(enginePort, withSecret, 'reset')).toMatch(/^HTTP\/1\.1 403 /);
		await expectAllUp();
		const withoutSecret = `GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${enginePort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;
		expect(await connection(enginePort, withoutSecret, 'reset')).toMatch(/^HTTP\/1\.1 403 /);
		await expectAllUp();
		await resetAtOnce(enginePort, withSecret);
		await expectAllUp();
	});

	it('refuses a CONNECT and outlives its reset', async () => {
		const head = engineHead(`CONNECT 127.0.0.1:${enginePort} HTTP/1.1`);
		expect(await connection(enginePort, head, 'reset')).toMatch(/^HTTP\/1\.1 405 /);
		await expectAllUp();
		await resetAtOnce(enginePort, head);
		await expectAllUp();
	});

	it('outlives a reset right after a head, in the middle of a body and while its answer is awaited', async () => {
		await resetAtOnce(enginePort, engineHead('GET /v1/health HTTP/1.1'));
		await expectAllUp();
		const signal = engineHead('POST /v1/containers/connections/signal HTTP/1.1', { 'Content-Type': 'application/json', 'Content-Length': '100' });
		expect(await connection(enginePort, `${signal}{"sig`, 'reset')).toBe('closed');
		await expectAllUp();
		// The long poll of the container's exit: no answer until it stops.
		expect(await connection(enginePort, engineHead('GET /v1/containers/connections/exit HTTP/1.1'), 'reset')).toBe('closed');
		await expectAllUp();
	});

	it('answers a client that half-closed after its request, and closes on one that sent nothing', async () => {
		expect(await connection(enginePort, '', 'half-close')).toBe('closed');
		await expectAllUp();
		expect(await connection(enginePort, engineHead('GET /v1/health HTTP/1.1'), 'half-close')).toMatch(/^HTTP\/1\.1 200 /);
		await expectAllUp();
	});

	it('answers a head that is not HTTP with 400', async () => {
		expect(await connection(enginePort, '\x16\x03\x01 not http at all\r\n\r\n', 'reset')).toMatch(/^HTTP\/1\.1 400 /);
		await expectAllUp();
		expect(await connection(enginePort, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${enginePort}\r\nbroken header line\r\n\r\n`, 'half-close')).toMatch(/^HTTP\/1\.1 400 /);
		await expectAllUp();
	});
});

describe("a container's control server, through its forwarded port", () => {
	let port: number;
	let token: string;
	const controlHead = (request: string, headers: Record<string, string> = {}) =>
		[request, `Host: 127.0.0.1:${port}`, `${TOKEN_HEADER}: ${token}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');

	beforeAll(async () => {
		({ hostPort: port, token } = await container.port(CONTROL_PORT));
	});

	it('outlives an upgrade reset right after its head or after its answer, with the token or without', async () => {
		const head = controlHead('GET /api/ping HTTP/1.1', UPGRADE);
		// /ws/pty is the control server's only WebSocket: an upgrade anywhere else is an ordinary request.
		expect(await connection(port, head, 'reset')).toMatch(/^HTTP\/1\.1 200 /);
		await expectAllUp();
		await resetAtOnce(port, head);
		await expectAllUp();
		// Without the token, the forwarder resets it itself.
		expect(await connection(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, 'reset')).toBe('ECONNRESET');
		await expectAllUp();
	});

	it('outlives a CONNECT and its reset', async () => {
		const head = controlHead('CONNECT 127.0.0.1:3000 HTTP/1.1');
		await connection(port, head, 'reset');
		await expectAllUp();
		await resetAtOnce(port, head);
		await expectAllUp();
	});

	it('outlives a reset right after a head, in a head, in a body and in the middle of a stream', async () => {
		await resetAtOnce(port, controlHead('GET /api/ping HTTP/1.1'));
		await expectAllUp();
		await connection(port, controlHead('GET /api/ping HTTP/1.1').slice(0, 30), 'reset');
		await expectAllUp();
		const write = controlHead('POST /api/write HTTP/1.1', { 'Content-Type': 'application/json', 'Content-Length': '1000' });
		await connection(port, `${write}{"path":"/workspace/x","con`, 'reset');
		await expectAllUp();
		// A port watch streams events until the port answers, and nothing listens on 4999.
		const body = JSON.stringify({ port: 4999, mode: 'tcp', interval: 100 });
		const watch = controlHead('POST /api/port-watch HTTP/1.1', { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
		expect(await connection(port, `${watch}${body}`, 'reset')).toMatch(/^HTTP\/1\.1 200 /);
		await expectAllUp();
	});

	it('answers a client that half-closed after its request, and resets one that sent nothing', async () => {
		expect(await connection(port, controlHead('GET /api/ping HTTP/1.1'), 'half-close')).toMatch(/^HTTP\/1\.1 200 /);
		await expectAllUp();
		// Nothing sent, so no token named: the forwarder refuses it as any other such connection.
		expect(await connection(port, '', 'half-close')).toBe('ECONNRESET');
		await expectAllUp();
	});

	it('answers a head that is not HTTP with 400, and resets one without the token', async () => {
		const garbage = `\x16\x03\x01 not http\r\n${TOKEN_HEADER}: ${token}\r\n\r\n`;
		expect(await connection(port, garbage, 'reset')).toMatch(/^HTTP\/1\.1 400 /);
		await expectAllUp();
		await resetAtOnce(port, garbage);
		await expectAllUp();
		expect(await connection(port, '\x16\x03\x01 not http\r\n\r\n', 'reset')).toBe('ECONNRESET');
		await expectAllUp();
	});
});
