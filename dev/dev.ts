/**
 * `npm run dev`: SvelteKit's hot reload for the app's own pages in `vite dev`, with every sandbox
 * operation and every preview host in workerd, through the same worker code as production. It runs
 *   1. the local container engine (bubblewrap; no Docker needed),
 *   2. the companion worker (dev/companion/companion.ts) in `wrangler dev`: the Durable Objects — the
 *      SDK's `Sandbox` and our coordinator — and the preview route,
 *   3. `vite dev`, whose platform proxy binds the companion's coordinators (wrangler.adapter.jsonc)
 *      and whose dev server plugin passes preview hosts to the companion (dev/vite/plugins.ts),
 * the last two starting together, and stops all three together. Extra arguments go to `vite dev`
 * (e.g. `npm run dev -- --port 5174`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCatalog } from '../sandbox/catalog.ts';
import { startEngine, type EngineHandle } from '../engine/launch.ts';
import { COMPANION, DEPLOYED_CONFIG } from './worker-config.ts';
import { runWranglerDev, type WranglerDev } from './wrangler-dev.ts';

const VITE = fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url));

// This run's own dev registry (how the platform proxy finds the companion) and Durable Object
// storage: another run on the same machine, or a stale one, cannot answer for it.
const scratch = mkdtempSync(join(tmpdir(), 'sandbox-dev-'));
// (No `request.cf` fetched from Cloudflare by vite dev's platform proxy either: see wrangler-worker.ts.)
const env = { CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env, WRANGLER_REGISTRY_PATH: join(scratch, 'registry') };
// Visitor cookies (signed by vite dev's SvelteKit) and preview cookies (by the companion's preview
// route) take one key: this run's, unless one is given.
const sessionSecret = process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url');

let engine: EngineHandle | undefined;
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
	// The companion bundles the catalog: from the template folders as they are now.
	writeCatalog();
	engine = await startEngine();
} catch (error) {
	console.error(`[dev] ${(error as Error).message}`);
	await shutDown(1);
}
const vars: Record<string, string> = {
	SANDBOX_ENGINE_URL: engine!.url,
	SANDBOX_ENGINE_SECRET: engine!.secret,
	SESSION_SECRET: sessionSecret,
	// The coordinators count what the engine can run, unless told otherwise.
	SANDBOX_MAX_INSTANCES: process.env.SANDBOX_MAX_INSTANCES ?? String(engine!.maxContainers)
};
// The app's settings the companion reads (see Configuration in the README), when given; vite dev reads the environment.
for (const name of ['APP_HOSTS', 'SANDBOX_TTL_SECONDS', 'SANDBOX_RECLAIM_AFTER_SECONDS', 'SANDBOX_POOL_SIZE', 'SANDBOX_POOL_TTL_SECONDS', 'SAVED_EDITS_DAYS']) {
	if (process.env[name]) vars[name] = process.env[name];
}
companion = runWranglerDev({
	config: DEPLOYED_CONFIG,
	derive: COMPANION,
	ip: '127.0.0.1',
	port: 0,
	persist: join(scratch, 'state'),
	enableContainers: false,
	// vite dev's platform proxy binds the companion's Durable Objects from another process.
	devRegistry: true,
	// Edits of the Durable Objects' code reload the companion, as vite reloads the pages.
	watch: true,
	vars,
	env
});
let failed = false;
// vite dev starts meanwhile (its platform proxy finds the companion through the dev registry once
// it is there); it reads the companion's address, for preview hosts, from this file.
const companionUrlFile = join(scratch, 'companion-url');
vite = spawn(process.execPath, [VITE, 'dev', ...process.argv.slice(2)], {
	stdio: 'inherit',
	env: {
		...env,
		SANDBOX_DEV_COMPANION_URL_FILE: companionUrlFile,
		SESSION_SECRET: sessionSecret,
		// Every visitor here is you, from this machine: the cap per client address, meant for a shared
		// deployment, would stop your fourth browser window. The engine's capacity bounds it instead.
		SANDBOX_ADDRESS_LIVE_SANDBOXES: process.env.SANDBOX_ADDRESS_LIVE_SANDBOXES ?? String(engine!.maxContainers)
	}
});
void companion.ready.then(
	(url) => {
		try {
			// Whole or not at all: written aside, then renamed into place.
			writeFileSync(`${companionUrlFile}.part`, url.origin);
			renameSync(`${companionUrlFile}.part`, companionUrlFile);
		} catch (error) {
			console.error(`[dev] cannot tell vite dev where the companion worker is: ${(error as Error).message}`);
			failed = true;
			vite!.kill('SIGTERM');
			return;
		}
		// (From this process's start: the bench reads it to tell where a launch's time goes.)
		console.log(`[dev] the engine and the companion worker are up after ${Math.round(performance.now())} ms`);
	},
	(error: Error) => console.error(`[dev] the companion worker did not start: ${error.message}`)
);
const running = vite;
for (const [what, exited] of [['the companion worker', companion.exited], ['the container engine', new Promise((r) => engine!.child.once('exit', r))]] as const) {
	void exited.then(() => {
		if (running.exitCode !== null || running.signalCode !== null) return;
		console.error(`[dev] ${what} exited; stopping vite`);
		failed = true;
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
await shutDown(failed ? 1 : code);
