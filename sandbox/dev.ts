/**
 * `npm run dev`: SvelteKit's hot reload for the app's own pages in `vite dev`, with every sandbox
 * operation and every preview host in workerd, through the same worker code as production. It runs
 *   1. the local container engine (bubblewrap; no Docker needed),
 *   2. the companion worker (sandbox/dev/companion.ts) in `wrangler dev`: the Durable Objects — the
 *      SDK's `Sandbox` and our coordinator — and the preview route,
 *   3. `vite dev`, whose platform proxy binds the companion's coordinators (wrangler.adapter.jsonc)
 *      and whose dev server plugin passes preview hosts to the companion (vite.config.ts),
 * and stops all three together. Extra arguments go to `vite dev` (e.g. `npm run dev -- --port 5174`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime, type LocalRuntimeHandle } from './local/launch.ts';
import { runWranglerDev, waitUntilServing, type WranglerDev } from './wrangler-dev.ts';

const COMPANION_CONFIG = fileURLToPath(new URL('./dev/wrangler.jsonc', import.meta.url));
const VITE = fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url));

function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer().listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
		server.on('error', reject);
	});
}

// This run's own dev registry (how the platform proxy finds the companion) and Durable Object
// storage: another run on the same machine, or a stale one, cannot answer for it.
const scratch = mkdtempSync(join(tmpdir(), 'sandbox-dev-'));
const env = { ...process.env, WRANGLER_REGISTRY_PATH: join(scratch, 'registry') };

let engine: LocalRuntimeHandle | undefined;
let companion: WranglerDev | undefined;
let vite: ChildProcess | undefined;

async function shutDown(code: number): Promise<never> {
	await companion?.stop();
	await engine?.stop();
	rmSync(scratch, { recursive: true, force: true });
	process.exit(code);
}

// Once Vite runs, a signal is its to handle (its exit ends the rest); before, it stops what has started.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
	process.on(signal, () => (vite ? vite.kill(signal) : void shutDown(1)));
}

try {
	engine = await startLocalRuntime();
} catch (error) {
	console.error(`[dev] ${(error as Error).message}`);
	await shutDown(1);
}
const [port, inspectorPort] = [await freePort(), await freePort()];
const vars: Record<string, string> = { LOCAL_CONTAINER_ENGINE_URL: engine!.url, LOCAL_CONTAINER_ENGINE_SECRET: engine!.secret };
if (process.env.SANDBOX_TTL_SECONDS) vars.SANDBOX_TTL_SECONDS = process.env.SANDBOX_TTL_SECONDS;
companion = runWranglerDev(
	[
		'--config', COMPANION_CONFIG,
		'--ip', '127.0.0.1',
		'--port', String(port),
		'--inspector-port', String(inspectorPort),
		'--enable-containers=false',
		'--persist-to', join(scratch, 'state'),
		'--show-interactive-dev-session=false'
	],
	{ vars, env }
);
const companionUrl = `http://127.0.0.1:${port}`;

try {
	await waitUntilServing(companionUrl, companion.exited, 'the companion worker (wrangler dev)');
} catch (error) {
	console.error(`[dev] ${(error as Error).message}`);
	await shutDown(1);
}

vite = spawn(process.execPath, [VITE, 'dev', ...process.argv.slice(2)], {
	stdio: 'inherit',
	env: { ...env, SANDBOX_DEV_COMPANION_URL: companionUrl }
});
const running = vite;
for (const [what, exited] of [['the companion worker', companion.exited], ['the container engine', new Promise((r) => engine!.child.once('exit', r))]] as const) {
	void exited.then(() => {
		if (running.exitCode !== null) return;
		console.error(`[dev] ${what} exited; stopping vite`);
		running.kill('SIGTERM');
	});
}
const code = await new Promise<number>((resolve) => {
	running.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
	running.once('error', (error) => {
		console.error(`[dev] cannot run vite: ${error.message}`);
		resolve(1);
	});
});
await shutDown(code);
