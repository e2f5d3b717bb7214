/**
 * Preview throughput: requests per second of GET / that the Express template answers through the
 * whole preview path of each target — a sandbox started through the app as a visitor would, its
 * preview URL asked at the app's port — against the same server.js spawned on the host. Between
 * the two, the engine's own part of the path alone: the container's port forwarded to 127.0.0.1,
 * no workerd, no app.
 */
import { spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { TOKEN_HEADER } from '../../sandbox/local/forwarded-head.ts';
import { startLocalRuntime } from '../../sandbox/local/launch.ts';
import { freePort } from '../helpers/ports.ts';
import { firstOk, send } from './http.ts';
import { TARGET_NAMES, withTarget } from './targets.ts';
import { Visitor } from './visitor.ts';
import { tick, type Row } from './stats.ts';

export const CONCURRENCY = 16;
export const WARMUP_MS = 1000;
export const MEASURE_MS = 5000;
const EXPRESS_DIR = 'sandbox/templates/express';

interface Load {
	rps: number;
	/** Answers other than 200, and failed connections, while measuring. */
	failed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CONCURRENCY request loops over keep-alive connections; counts the 200s after the warm-up. */
async function load(port: number, headers: Record<string, string> = {}): Promise<Load> {
	const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
	let measuring = false;
	let done = false;
	let ok = 0;
	let failed = 0;
	const loop = async () => {
		while (!done) {
			const reply = await send(port, { headers, agent }).catch(() => null);
			if (!measuring) continue;
			if (reply?.status === 200) ok++;
			else failed++;
		}
	};
	const loops = Array.from({ length: CONCURRENCY }, loop);
	await sleep(WARMUP_MS);
	measuring = true;
	const start = performance.now();
	await sleep(MEASURE_MS);
	measuring = false;
	const seconds = (performance.now() - start) / 1000;
	done = true;
	await Promise.all(loops);
	agent.destroy();
	return { rps: ok / seconds, failed };
}

async function onHost(): Promise<Load> {
	const port = await freePort();
	const server = spawn(process.execPath, ['server.js'], { cwd: EXPRESS_DIR, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
	try {
		await firstOk(port);
		return await load(port);
	} finally {
		server.kill('SIGKILL');
		await new Promise((resolve) => server.once('exit', resolve));
	}
}

/** A container of the engine, driven over its container API as the Durable Object drives it. */
async function throughEngineForward(): Promise<Load> {
	const engine = await startLocalRuntime({ output: 'capture' });
	const call = async (method: string, path: string, body?: object) => {
		const response = await fetch(`${engine.url}/v1/containers/bench-throughput${path}`, {
			method,
			headers: { authorization: `Bearer ${engine.secret}`, 'content-type': 'application/json' },
			body: body && JSON.stringify(body)
		});
		if (!response.ok) throw new Error(`engine: ${method} ${path} answered ${response.status}: ${await response.text()}`);
		return (await response.json()) as { hostPort: number; token: string };
	};
	// Every request names its port's token, as workerd's side of the engine does (forwarded-head.ts).
	const tokenHeader = (token: string) => ({ [TOKEN_HEADER]: token });
	try {
		await call('PUT', '', { enableInternet: false });
		const control = await call('POST', '/ports/3000');
		// The control server's own API, as the SDK's startProcess uses it.
		const started = await send(control.hostPort, {
			method: 'POST',
			path: '/api/process/start',
			headers: { 'content-type': 'application/json', ...tokenHeader(control.token) },
			body: JSON.stringify({ command: 'node server.js', cwd: '/templates/express' })
		});
		if (started.status !== 200) throw new Error(`control server: starting Express answered ${started.status}: ${started.body}`);
		const app = await call('POST', '/ports/3001');
		await firstOk(app.hostPort, { headers: tokenHeader(app.token) });
		return await load(app.hostPort, tokenHeader(app.token));
	} finally {
		await engine.stop();
	}
}

/** Boots an Express sandbox through the app and loads its preview URL. */
async function throughPreview(port: number): Promise<Load> {
	const visitor = new Visitor(port);
	try {
		await visitor.openHome();
		const { state } = await visitor.boot('express');
		return await load(port, { host: new URL(state.previewUrl!).host });
	} finally {
		await visitor.stop();
		visitor.close();
	}
}

export async function benchThroughput(): Promise<Row[]> {
	const host = await onHost();
	tick();
	const rows: Row[] = [];
	const add = (label: string, { rps, failed }: Load) => {
		rows.push([label, rps.toFixed(0), `${(rps / host.rps).toFixed(2)}x`]);
		if (failed > 0) rows.push([`  and ${failed} request(s) failed or answered other than 200`]);
	};
	add('host: node server.js', host);
	add('engine only: forwarded port → container (no workerd, no app)', await throughEngineForward());
	tick();
	for (const name of TARGET_NAMES) {
		add(`whole preview path, app under ${name}`, await withTarget(name, throughPreview));
		tick();
	}
	return rows;
}
