import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PREVIEW_HOST_HEADER } from '../../sandbox/local/protocol.ts';
import type { Sandbox } from '../../src/lib/server/sandbox/types.ts';
import {
	NAMED_SERVER,
	fetchInside,
	listeningPorts,
	sandboxProcesses,
	startTestRuntime,
	type TestRuntime
} from '../helpers/local-runtime.ts';

const HOST = 'localhost:5173';
let runtime: TestRuntime;
let alpha: Sandbox;
let beta: Sandbox;
let alphaUrl: string;
let betaUrl: string;

async function serveNamed(sandbox: Sandbox, name: string) {
	await sandbox.writeFile('/workspace/server.js', NAMED_SERVER);
	const process = await sandbox.startProcess('node server.js', { processId: 'web', env: { NAME: name } });
	await process.waitForPort(3001, { timeout: 10_000 });
	return (await sandbox.exposePort(3001, { hostname: HOST })).url;
}

beforeAll(async () => {
	runtime = await startTestRuntime();
	alpha = runtime.backend.getSandbox('net-alpha');
	beta = runtime.backend.getSandbox('net-beta');
	[alphaUrl, betaUrl] = await Promise.all([serveNamed(alpha, 'alpha'), serveNamed(beta, 'beta')]);
});
afterAll(async () => {
	await Promise.all([alpha?.destroy(), beta?.destroy()]);
	await runtime?.stop();
});

describe('preview routing', () => {
	it('gives each sandbox a preview URL of the SDK form', () => {
		expect(alphaUrl).toMatch(/^http:\/\/3001-net-alpha-[a-z0-9_]{16}\.localhost:5173\/$/);
		expect(betaUrl).toMatch(/^http:\/\/3001-net-beta-[a-z0-9_]{16}\.localhost:5173\/$/);
	});

	it('reaches each sandbox on the same internal port through its own preview host', async () => {
		const a = await runtime.preview(`${alphaUrl}hello?x=1`);
		const b = await runtime.preview(betaUrl);
		expect(a.status).toBe(200);
		expect(await a.json()).toEqual({
			name: 'alpha',
			host: 'localhost:3001',
			forwardedHost: new URL(alphaUrl).host,
			path: '/hello?x=1'
		});
		expect(await b.json()).toMatchObject({ name: 'beta' });
	});

	it("answers 404 INVALID_TOKEN for another sandbox's token, a made-up token, or an unexposed port", async () => {
		const alphaToken = new URL(alphaUrl).hostname.split('.')[0].split('-').at(-1);
		const wrong = [
			`http://3001-net-beta-${alphaToken}.${HOST}/`,
			`http://3001-net-alpha-madeuptoken.${HOST}/`,
			`http://4000-net-alpha-${alphaToken}.${HOST}/`,
			`http://3001-nobody-${alphaToken}.${HOST}/`
		];
		for (const url of wrong) {
			const response = await runtime.preview(url);
			expect(response.status, url).toBe(404);
			expect(await response.json()).toMatchObject({ code: 'INVALID_TOKEN' });
		}
	});

	it('routes through the client the app uses, and leaves other hosts alone', async () => {
		const viaClient = await runtime.backend.proxyPreview(new Request(`${betaUrl}via-client`));
		expect(await viaClient!.json()).toMatchObject({ name: 'beta', path: '/via-client' });
		expect(await runtime.backend.proxyPreview(new Request(`http://${HOST}/`))).toBeNull();
	});

	it('keeps the token when a port is exposed again, and lists exposed ports', async () => {
		expect((await alpha.exposePort(3001, { hostname: HOST })).url).toBe(alphaUrl);
		expect(await alpha.getExposedPorts(HOST)).toEqual([{ url: alphaUrl, port: 3001, status: 'active' }]);
	});

	it('honours a custom token and refuses one another port already uses', async () => {
		await alpha.exec('PORT=3005 NAME=custom node server.js > /dev/null 2>&1 &');
		const { url } = await alpha.exposePort(3005, { hostname: HOST, token: 'my_token_1' });
		expect(url).toBe(`http://3005-net-alpha-my_token_1.${HOST}/`);
		await expect(alpha.exposePort(3006, { hostname: HOST, token: 'my_token_1' })).rejects.toMatchObject({ code: 'TOKEN_IN_USE' });
		await alpha.unexposePort(3005);
		expect((await runtime.preview(url)).status).toBe(404);
	});
});

describe('WebSockets through a preview host', () => {
	it('installs ws from the npm registry inside the sandbox and echoes messages through the preview host', async () => {
		const install = await alpha.exec('npm install --no-audit --no-fund ws@8', { timeout: 120_000 });
		expect(install.exitCode, install.stderr).toBe(0);
		await alpha.writeFile(
			'/workspace/echo.js',
			`const { WebSocketServer } = require('ws');
			 new WebSocketServer({ port: 3010, host: '0.0.0.0' }).on('connection', (socket, req) => {
			   socket.send('host:' + req.headers.host);
			   socket.on('message', (data) => socket.send('echo:' + data));
			 });`
		);
		const echo = await alpha.startProcess('node echo.js', { processId: 'echo' });
		await echo.waitForPort(3010, { mode: 'tcp', timeout: 10_000 });
		const { url } = await alpha.exposePort(3010, { hostname: HOST });
		const previewHost = new URL(url).host;

		const socket = new WebSocket(`${runtime.url.replace('http', 'ws')}/socket`, { headers: { [PREVIEW_HOST_HEADER]: previewHost } });
		const messages: string[] = [];
		socket.on('message', (data) => messages.push(String(data)));
		await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
		socket.send('ping');
		await expect.poll(() => messages).toEqual([`host:${previewHost}`, 'echo:ping']);
		socket.close();
	});

	it('refuses an upgrade with a wrong token with 404', async () => {
		const socket = new WebSocket(`${runtime.url.replace('http', 'ws')}/`, {
			headers: { [PREVIEW_HOST_HEADER]: `3010-net-alpha-wrongtoken.${HOST}` }
		});
		const status = await new Promise((resolve) => socket.once('unexpected-response', (_, res) => resolve(res.statusCode)));
		expect(status).toBe(404);
	});
});

describe('isolation', () => {
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
	});

	it('cannot reach the host through the gateway address either', async () => {
		expect(await fetchInside(alpha, `http://10.0.2.2:${hostPort}/`)).toMatch(/ENETUNREACH|ECONNREFUSED|TimeoutError/);
	});

	it('cannot reach the runtime, on loopback or on any host address', async () => {
		const { port } = new URL(runtime.url);
		expect(await fetchInside(alpha, `http://127.0.0.1:${port}/v1/health`)).toBe('ECONNREFUSED');
		const hostAddresses = Object.values(networkInterfaces())
			.flat()
			.filter((i) => i && i.family === 'IPv4' && !i.internal)
			.map((i) => i!.address);
		for (const address of hostAddresses) {
			// Not even a refusal from the host: the route to its addresses is denied inside (egress.ts).
			expect(await fetchInside(alpha, `http://${address}:${port}/v1/health`), address).toBe('EHOSTUNREACH');
		}
	});

	it("cannot reach another sandbox's forwarded port", async () => {
		const forwarders = sandboxProcesses(runtime.stateDir).processes.filter((p) => p.cmdline.includes('port-forwarder.mjs'));
		const forwarded = listeningPorts(forwarders.map((p) => p.pid));
		expect(forwarded.length).toBeGreaterThanOrEqual(2);
		for (const port of forwarded) {
			expect(await fetchInside(alpha, `http://127.0.0.1:${port}/`)).toMatch(/ECONNREFUSED/);
		}
	});

	it('has outbound network access, with DNS', async () => {
		const lookup = await alpha.exec('npm view valibot name', { timeout: 60_000 });
		expect(lookup.stdout.trim(), lookup.stderr).toBe('valibot');
	});
});
