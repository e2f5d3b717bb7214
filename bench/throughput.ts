/**
 * Preview throughput: requests per second of GET / that the Express template answers through the
 * whole preview path of each target (dev and preview, see targets.ts) — a sandbox started through
 * the app as a visitor would, its preview URL asked at the app's port — against the same server.js
 * spawned on the host. Between the two, the engine's own part of the path alone: the container's
 * port forwarded to 127.0.0.1, no workerd, no app.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { TOKEN_HEADER } from '../engine/forwarded-head.ts';
import { startTestEngine } from '../tests/helpers/engine.ts';
import { scratchDir } from '../tests/helpers/host.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { firstOk, send } from './http.ts';
import { TARGET_NAMES, withTargets, type Target, type TargetName } from './targets.ts';
import { Visitor } from './visitor.ts';
import { tick, type Row } from './stats.ts';

export const CONCURRENCY = 16;
export const WARMUP_MS = 1000;
export const MEASURE_MS = 5000;
const EXPRESS_DIR = 'sandbox/templates/express';

/** Each target's measurement is taken in this many turns, the targets alternating. */
export const TURNS = 2;

interface Load {
	rps: number;
	/** Answers other than 200, and failed connections, while measuring. */
	failed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CONCURRENCY request loops over keep-alive connections; counts the 200s after the warm-up. */
async function load(port: number, headers: Record<string, string> = {}, measureMs = MEASURE_MS): Promise<Load> {
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
	await sleep(measureMs);
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
	const stateDir = scratchDir('bench-engine-');
	const engine = await startTestEngine({ SANDBOX_ENGINE_STATE_DIR: stateDir });
	try {
		const container = await engine.createContainer('bench-throughput', { enableInternet: false });
		await container.startProcess('node server.js', { cwd: '/templates/express' });
		// Every request names its port's token, as workerd's side of the engine does (forwarded-head.ts).
		const { hostPort, token } = await container.port(3001);
		const headers = { [TOKEN_HEADER]: token };
		await firstOk(hostPort, { headers });
		return await load(hostPort, headers);
	} finally {
		await engine.stop();
		rmSync(stateDir, { recursive: true, force: true });
	}
}

/**
 * Boots an Express sandbox through each target's app, as a visitor would, and loads its preview
 * URL at the app's port: MEASURE_MS in all per target, in TURNS turns, the targets alternating.
 */
async function throughPreviews(targets: Record<TargetName, Target>): Promise<Record<TargetName, Load>> {
	const visitors = TARGET_NAMES.map((name) => ({ name, visitor: new Visitor(targets[name].port) }));
	try {
		const previews = {} as Record<TargetName, { host: string; cookie: string }>;
		for (const { name, visitor } of visitors) {
			await visitor.openHome();
			const { state, previewCookie } = await visitor.boot('express');
			previews[name] = { host: new URL(state.previewUrl!).host, cookie: previewCookie };
		}
		const turns = Object.fromEntries(TARGET_NAMES.map((name) => [name, [] as Load[]])) as Record<TargetName, Load[]>;
		for (let turn = 0; turn < TURNS; turn++) {
			for (const name of TARGET_NAMES) turns[name].push(await load(targets[name].port, previews[name], MEASURE_MS / TURNS));
			tick();
		}
		const combined = (loads: Load[]): Load => ({ rps: loads.reduce((total, l) => total + l.rps, 0) / loads.length, failed: loads.reduce((total, l) => total + l.failed, 0) });
		return Object.fromEntries(TARGET_NAMES.map((name) => [name, combined(turns[name])])) as Record<TargetName, Load>;
	} finally {
		for (const { visitor } of visitors) {
			await visitor.stop();
			visitor.close();
		}
	}
}

export interface ThroughputTables {
	/** On the host and through the engine's forward alone: req/s and the ratio to the host's. */
	reference: Row[];
	/** Through each path's whole preview route, side by side (see pairHeader's groups). */
	paths: Row[];
}

export async function benchThroughput(): Promise<ThroughputTables> {
	const host = await onHost();
	tick();
	const reference: Row[] = [];
	const failures = (label: string, { failed }: Load) => (failed > 0 ? [[`  ${label}: ${failed} request(s) failed or answered other than 200`] as Row] : []);
	const vsHost = ({ rps }: Load) => `${(rps / host.rps).toFixed(2)}x`;
	const add = (label: string, load: Load) => reference.push([label, load.rps.toFixed(0), vsHost(load)], ...failures(label, load));
	add('host: node server.js', host);
	add('engine only: forwarded port → container (no workerd, no app)', await throughEngineForward());
	tick();
	const loads = await withTargets(throughPreviews);
	const { dev, preview } = loads;
	const paths: Row[] = [
		['whole preview path: app port → sandbox', dev.rps.toFixed(0), vsHost(dev), preview.rps.toFixed(0), vsHost(preview), `${(dev.rps / preview.rps).toFixed(2)}x`],
		...TARGET_NAMES.flatMap((name) => failures(name, loads[name]))
	];
	return { reference, paths };
}
