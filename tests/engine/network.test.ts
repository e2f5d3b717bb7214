/**
 * The network around an engine's containers: their ports reach the host's loopback only through
 * forwards that demand each port's token, and from inside a container neither the host, nor the
 * engine, nor another container's forwards are reachable — only the internet (when asked for).
 * No test sends a packet off this machine, except the one DNS lookup of the npm registry.
 */
import { createServer, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ORIGINAL_HOST_HEADER, TOKEN_HEADER } from '../../engine/forwarded-head.ts';
import { NAMED_SERVER, fetchInside, startTestEngine, type TestContainer, type TestEngine } from '../helpers/engine.ts';
import { listeningPorts, sandboxProcesses } from '../helpers/host.ts';

/** NAMED_SERVER, which also greets WebSocket clients with one text frame naming the Host it saw. */
const SERVER = `${NAMED_SERVER}
const { createHash } = require('node:crypto');
const sockets = http.createServer().on('upgrade', (req, socket) => {
	const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
	socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
	const text = Buffer.from('hi ' + req.headers.host);
	socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text]));
}).listen(3010, '0.0.0.0');
`;

let engine: TestEngine;
let alpha: TestContainer;
let beta: TestContainer;

async function serveNamed(container: TestContainer, name: string) {
	expect((await container.writeFile('/workspace/server.js', SERVER)).status).toBe(200);
	await container.startProcess('node server.js', { processId: 'web', env: { NAME: name } });
	await container.waitForPort(3001);
	await container.waitForPort(3010);
}

beforeAll(async () => {
	engine = await startTestEngine();
	[alpha, beta] = await Promise.all([engine.createContainer('net-alpha'), engine.createContainer('net-beta')]);
	await Promise.all([serveNamed(alpha, 'alpha'), serveNamed(beta, 'beta')]);
});
afterAll(async () => {
	await Promise.all([alpha?.destroy(), beta?.destroy()]);
	await engine?.stop();
});

/** Sends one request head on a fresh connection to 127.0.0.1:port; answers what came back, or how it ended. */
function rawRequest(port: number, head: string): Promise<string> {
	return new Promise((resolve) => {
		const socket = createConnection(port, '127.0.0.1', () => socket.write(head));
		let text = '';
		socket.on('data', (chunk) => (text += chunk));
		socket.on('error', (error: NodeJS.ErrnoException) => resolve(text || (error.code ?? error.message)));
		socket.on('close', () => resolve(text || 'closed'));
	});
}

describe('forwarded ports', () => {
	it("reach each container's own server on the same internal port, through its own forward", async () => {
		const a = await alpha.fetchPort(3001, '/hello?x=1');
		expect(a.status).toBe(200);
		expect(await a.json()).toMatchObject({ name: 'alpha', path: '/hello?x=1' });
		expect(await (await beta.fetchPort(3001, '/')).json()).toMatchObject({ name: 'beta' });
		expect((await alpha.port(3001)).hostPort).not.toBe((await beta.port(3001)).hostPort);
	});

	it('keep a port’s forward and token when it is asked for again', async () => {
		const first = await alpha.port(3001);
		const again = await (await engine.api('/v1/containers/net-alpha/ports/3001', { method: 'POST' })).json();
		expect(again).toEqual(first);
	});

	it('put back the original Host that workerd names, and pass the token to nobody', async () => {
		const { hostPort, token } = await alpha.port(3001);
		const reply = await rawRequest(
			hostPort,
			`GET /host HTTP/1.1\r\nHost: 127.0.0.1:${hostPort}\r\n${TOKEN_HEADER}: ${token}\r\n${ORIGINAL_HOST_HEADER}: 3001-net-alpha-tok.localhost:5173\r\nConnection: close\r\n\r\n`
		);
		expect(reply).toMatch(/^HTTP\/1\.1 200/);
		expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ name: 'alpha', host: '3001-net-alpha-tok.localhost:5173' });
	});

	it("reset a connection without the port's token, with another port's, or with another container's", async () => {
		const alphaApp = await alpha.port(3001);
		const alphaControl = await alpha.port(3000);
		const betaApp = await beta.port(3001);
		const head = (token?: string) => `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${token ? `${TOKEN_HEADER}: ${token}\r\n` : ''}Connection: close\r\n\r\n`;
		for (const [what, port, token] of [
			['no token', alphaApp.hostPort, undefined],
			['a made-up token', alphaApp.hostPort, 'madeuptoken'],
			["the control server's token", alphaApp.hostPort, alphaControl.token],
			["the app's token on the control server", alphaControl.hostPort, alphaApp.token],
			["another container's token", alphaApp.hostPort, betaApp.token]
		] as const) {
			expect(await rawRequest(port, head(token)), what).toBe('ECONNRESET');
		}
		// (Only a connection's first request is checked: fetch would reuse this process's kept-alive
		// connections, which named the token, so every check above opens a connection of its own.)
		// The right token still gets through.
		expect(await rawRequest(alphaApp.hostPort, head(alphaApp.token))).toMatch(/^HTTP\/1\.1 200/);
	});

	it('carry WebSockets, with the original Host, and refuse an upgrade without the token', async () => {
		const { hostPort, token } = await alpha.port(3010);
		const previewHost = '3010-net-alpha-ws.localhost:5173';
		const socket = new WebSocket(`ws://127.0.0.1:${hostPort}/socket`, { headers: { [TOKEN_HEADER]: token, [ORIGINAL_HOST_HEADER]: previewHost } });
		const message = await new Promise<string>((resolve, reject) => {
			socket.once('message', (data) => resolve(String(data)));
			socket.once('error', reject);
		});
		socket.close();
		expect(message).toBe(`hi ${previewHost}`);

		const refused = new WebSocket(`ws://127.0.0.1:${hostPort}/socket`, { headers: { [TOKEN_HEADER]: 'wrongtoken' } });
		const outcome = await new Promise<string>((resolve) => {
			refused.once('open', () => resolve('open'));
			refused.once('unexpected-response', (_, res) => resolve(`status ${res.statusCode}`));
			refused.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
		});
		expect(outcome).toMatch(/ECONNRESET|socket hang up/);
	});
});

describe('from inside a container', () => {
	let hostServer: Server;
	let hostPort: number;

	beforeAll(async () => {
		hostServer = createServer((_, res) => res.end('host secret'));
		await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
		hostPort = (hostServer.address() as { port: number }).port;
	});
	afterAll(() => new Promise((resolve) => hostServer.close(resolve)));

	it("cannot reach the host's loopback: its 127.0.0.1 is its own", async () => {
		expect(await fetchInside(alpha, `http://127.0.0.1:${hostPort}/`)).toBe('ECONNREFUSED');
		// Its own servers are there.
		expect(JSON.parse(await fetchInside(alpha, 'http://127.0.0.1:3001/inside'))).toMatchObject({ name: 'alpha', path: '/inside' });
	});

	it('cannot reach the host through the gateway address either', async () => {
		expect(await fetchInside(alpha, `http://10.0.2.2:${hostPort}/`)).toMatch(/ENETUNREACH|ECONNREFUSED|TimeoutError/);
	});

	it('cannot reach the engine, on loopback or on any host address', async () => {
		const { port } = new URL(engine.url);
		expect(await fetchInside(alpha, `http://127.0.0.1:${port}/v1/containers/net-beta`)).toBe('ECONNREFUSED');
		const hostAddresses = Object.values(networkInterfaces())
			.flat()
			.filter((i) => i && i.family === 'IPv4' && !i.internal)
			.map((i) => i!.address);
		for (const address of hostAddresses) {
			// Not even a refusal from the host: the route to its addresses is denied inside (egress.ts).
			expect(await fetchInside(alpha, `http://${address}:${port}/v1/containers/net-beta`), address).toBe('EHOSTUNREACH');
		}
	});

	it("cannot reach any container's forwarded port, its own or another's", async () => {
		const forwarders = sandboxProcesses(engine.stateDir).processes.filter((p) => p.cmdline.includes('port-forwarder.mjs'));
		expect(forwarders).toHaveLength(2);
		const forwarded = listeningPorts(forwarders.map((p) => p.pid));
		// The control servers' ports and the web servers', of both containers.
		expect(forwarded.length).toBeGreaterThanOrEqual(4);
		for (const open of await Promise.all([beta.port(3000), beta.port(3001), alpha.port(3001)])) expect(forwarded).toContain(open.hostPort);
		for (const port of forwarded) {
			expect(await fetchInside(alpha, `http://127.0.0.1:${port}/`), String(port)).toMatch(/ECONNREFUSED/);
		}
	});

	it('has outbound network access, with DNS', async () => {
		const lookup = await alpha.exec('npm view valibot name', { timeoutMs: 60_000 });
		expect(lookup.stdout.trim(), lookup.stderr).toBe('valibot');
	});

	it('has no network at all when started without internet, yet its ports are forwarded', async () => {
		const offline = await engine.createContainer('net-offline', { enableInternet: false });
		try {
			// The control server answers through its forward (this very exec); nothing leads out.
			const { stdout } = await offline.exec('ip -o link show | grep -v " lo:" | wc -l; ip -4 route show default; ip route get 1.1.1.1 2>&1');
			const [links, ...rest] = stdout.trim().split('\n');
			expect(links).toBe('0');
			expect(rest.join('\n')).toMatch(/Network is unreachable/);
			expect(sandboxProcesses(engine.stateDir).processes.filter((p) => p.cmdline.startsWith('slirp4netns'))).toHaveLength(2);
		} finally {
			await offline.destroy();
		}
	});
});
