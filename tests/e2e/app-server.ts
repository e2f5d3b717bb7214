/**
 * Playwright's global setup: builds the worker, then runs the app five times over — as a developer
 * would, `npm run dev` (vite dev + the companion worker, port 5173) and `npm run preview` (the built
 * worker in workerd, port 8787, over https on 8788, with room for two sandboxes on 8789, and with a
 * warm pool on 8790); and
 * as two isolates behind a round-robin proxy (isolates/run.ts, port 5180) — and at the end stops them and checks that every sandbox they made is gone (no
 * process, no workspace) and, for the isolates, that each sandbox was booted exactly once.
 * (Playwright's own webServer stops only after global teardown, too late for those checks.)
 */
import { spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorker } from '../helpers/build.ts';
import { checkBrowsersInstalled } from './chromium.ts';
import { liveProcesses } from '../helpers/host.ts';

export const TARGETS = {
	'vite-dev': { port: 5173, command: ['dev/dev.ts', '--port', '5173', '--strictPort'] },
	worker: { port: 8787, command: ['dev/preview.ts', '--port', '8787'] },
	isolates: { port: 5180, command: ['tests/e2e/isolates/run.ts', '5180'] },
	// The worker over TLS (wrangler's self-signed certificate), as Cloudflare serves it, for the specs
	// that need a real domain layout with secure cookies (session-fixation.spec.ts).
	https: { port: 8788, command: ['dev/preview.ts', '--port', '8788', '--https'] },
	// The worker with an engine that runs two sandboxes at once, reclaimable after 4 s unused (capacity.spec.ts).
	capacity: { port: 8789, command: ['dev/preview.ts', '--port', '8789'], env: { SANDBOX_ENGINE_MAX: '2', SANDBOX_RECLAIM_AFTER_SECONDS: '4' } },
	// The worker with a warm pool of one Express sandbox (pool.spec.ts).
	pool: { port: 8790, command: ['dev/preview.ts', '--port', '8790'], env: { SANDBOX_POOL_SIZE: 'express=1' } }
} as const satisfies Record<string, { port: number; command: string[]; env?: Record<string, string> }>;

/** Where each target is reached: https for the TLS one, whose names Chromium maps to this machine. */
export const baseUrlOf = (name: keyof typeof TARGETS) => (name === 'https' ? `https://app.sandbox.test:${TARGETS.https.port}` : `http://localhost:${TARGETS[name].port}`);

/**
 * Boots per sandbox, from the coordinators' log: every sandbox must have been booted exactly once,
 * plus once per wake-up after its container went away, per restart its visitor asked for, and per
 * claim from its pool — however many isolates asked.
 */
export function bootsBeyondOne(output: string): string[] {
	const count = (pattern: RegExp) => {
		const counts = new Map<string, number>();
		for (const [, id] of output.matchAll(pattern)) counts.set(id, (counts.get(id) ?? 0) + 1);
		return counts;
	};
	const boots = count(/\[coordinator\] booting (\S+)/g);
	const wakes = count(/\[coordinator\] waking (\S+):/g);
	const restarts = count(/\[coordinator\] restarting the app of (\S+)/g);
	// A pooled sandbox boots for its pool, then once more (its preview only) when a visitor claims it.
	const claims = count(/\[coordinator\] (\S+) leaves its pool/g);
	const expected = (id: string) => 1 + (wakes.get(id) ?? 0) + (restarts.get(id) ?? 0) + (claims.get(id) ?? 0);
	return [...boots]
		.filter(([id, n]) => n !== expected(id))
		.map(([id, n]) => `${id}: ${n} boots, ${wakes.get(id) ?? 0} wake-ups, ${restarts.get(id) ?? 0} restarts`);
}

/** Whether the target answers its home page with 200 within 5 s (over TLS, whatever its certificate). */
function answersOk(protocol: 'http' | 'https', port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const get = protocol === 'https' ? httpsGet : httpGet;
		const req = get({ host: '127.0.0.1', port, path: '/', headers: { host: `localhost:${port}` }, rejectUnauthorized: false }, (res) => {
			res.resume();
			resolve(res.statusCode === 200);
		});
		req.on('error', () => resolve(false));
		// A worker that never became ready (wrangler stays up after an error in the worker) holds the
		// request open: a try that takes this long has failed.
		req.setTimeout(5_000, () => req.destroy());
	});
}

export async function startTarget(name: keyof typeof TARGETS) {
	const target: { port: number; command: readonly string[]; env?: Record<string, string> } = TARGETS[name];
	const { port, command } = target;
	const stateDir = mkdtempSync(join(tmpdir(), `sandbox-e2e-${name}-`));
	const app = spawn(process.execPath, command, {
		env: {
			...process.env,
			// Sandboxes outlive their tests until the TTL, as they would for visitors: room for all of them.
			SANDBOX_ENGINE_STATE_DIR: stateDir,
			SANDBOX_ENGINE_MAX: '40',
			// Every test's visitor comes from this machine, three files at a time: the caps per address
			// (sandboxes running, starts a minute) are coordination.spec.ts's, on the isolates.
			SANDBOX_ADDRESS_LIVE_SANDBOXES: '100',
			SANDBOX_ADDRESS_STARTS_PER_MINUTE: '1000',
			// Host names the specs use besides localhost (Chromium maps them to this machine).
			APP_HOSTS: 'app.sandbox.test,sandbox-previews.example.workers.dev',
			// Sandboxes boot as a visitor's click asks, unless a target tests the warm pool.
			SANDBOX_POOL_SIZE: '0',
			...target.env
		},
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	app.stdout.on('data', (chunk) => (output += chunk));
	app.stderr.on('data', (chunk) => (output += chunk));
	const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));

	for (let attempt = 0; ; attempt++) {
		const failure =
			app.exitCode !== null ? 'exited during start' : attempt > 360 ? 'did not start within 90 s' : null;
		if (failure) {
			app.kill('SIGTERM');
			await exited;
			rmSync(stateDir, { recursive: true, force: true });
			throw new Error(`${name} ${failure}:\n${output}`);
		}
		if (await answersOk(name === 'https' ? 'https' : 'http', port)) break;
		await new Promise((resolve) => setTimeout(resolve, 250));
	}

	return async () => {
		app.kill('SIGTERM');
		await exited;
		mkdirSync('test-results', { recursive: true });
		writeFileSync(`test-results/${name}.log`, output);
		const leftovers = liveProcesses().filter((p) => p.cmdline.includes(stateDir));
		const files = existsSync(stateDir) ? readdirSync(stateDir) : [];
		rmSync(stateDir, { recursive: true, force: true });
		const extraBoots = bootsBeyondOne(output);
		const containersStarted = /\[engine\] container \S+ started/.test(output);
		if (name === 'isolates' && (extraBoots.length > 0 || (containersStarted && !/\[coordinator\] booting/.test(output)))) {
			throw new Error(`isolates: sandboxes were not booted exactly once:\n${extraBoots.join('\n') || 'no boot was logged'}`);
		}
		if (leftovers.length > 0 || files.length > 0) {
			const processes = leftovers.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 120)}…`).join('\n');
			throw new Error(`${name}: sandboxes outlived the app:\n${processes}\nstate left: ${files.join(', ')}`);
		}
		// Miniflare's warning when its fetch of Cloudflare's example `request.cf` fails, as it does here
		// (no network): nothing of the app's may ask a host off this machine.
		if (output.includes('Request.cf')) throw new Error(`${name}: wrangler fetched request.cf from Cloudflare (CLOUDFLARE_CF_FETCH_ENABLED)`);
	};
}

export default async function setup() {
	checkBrowsersInstalled();
	// Built once per `npm test` (tests/run.ts), or here when Playwright runs alone.
	if (process.env.SANDBOX_TEST_BUILT !== '1') buildWorker();
	// All at once: each spends most of its start waiting on its workerd.
	const starts = await Promise.allSettled((Object.keys(TARGETS) as (keyof typeof TARGETS)[]).map(startTarget));
	const stops = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
	const failed = starts.find((start): start is PromiseRejectedResult => start.status === 'rejected');
	if (failed) {
		await stopAll(stops).catch((failure) => console.error(failure));
		throw failed.reason;
	}
	return () => stopAll(stops);
}

/** Stops every target, even after one of them fails its checks; then says what failed. */
async function stopAll(stops: (() => Promise<void>)[]) {
	const failures = (await Promise.allSettled(stops.map((stop) => stop()))).flatMap((stop) => (stop.status === 'rejected' ? [stop.reason] : []));
	if (failures.length === 1) throw failures[0];
	if (failures.length > 1) throw new AggregateError(failures, failures.map(String).join('\n'));
}
