/**
 * `npm run preview`: runs the built worker in workerd as `wrangler dev` would, the Durable Objects
 * included.
 * - With a Docker engine: real Cloudflare sandbox containers, built from sandbox/Dockerfile.
 * - Without one: workerd's containers disabled, and the SDK's Durable Object gets its containers
 *   from the local engine (preview-worker.ts): the same worker code as production end to end, only
 *   the container underneath differs.
 *
 * Where it listens: `npm run preview -- --port 8790 --ip 127.0.0.1` (wrangler's defaults otherwise:
 * localhost, 8787 or the next free port), and `--https` to serve https with wrangler's self-signed
 * certificate, as Cloudflare serves the app. No other arguments.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEngine, type EngineHandle } from '../engine/launch.ts';
import { runWranglerDev } from './wrangler-dev.ts';

const CONFIG = fileURLToPath(new URL('../wrangler.jsonc', import.meta.url));
/** The app's worker entry with the local engine's containers under the Sandbox Durable Object. */
const ENGINE_ENTRY = fileURLToPath(new URL('./preview-worker.ts', import.meta.url));

/** --ip, --port and --https, checked before anything starts. */
function listenAddress(): { ip?: string; port?: number; https: boolean } {
	try {
		const { values } = parseArgs({ options: { ip: { type: 'string' }, port: { type: 'string' }, https: { type: 'boolean', default: false } }, strict: true });
		const port = values.port === undefined ? undefined : Number(values.port);
		if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`--port ${values.port} is not a port number`);
		return { ip: values.ip, port, https: values.https };
	} catch (error) {
		console.error(`[preview] ${(error as Error).message}: npm run preview takes only --port <number>, --ip <address> and --https`);
		process.exit(2);
	}
}
const listen = listenAddress();

const hasDocker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

const vars: Record<string, string> = {
	// Visitor cookies are signed: a key for this run, unless one is given.
	SESSION_SECRET: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url'),
	// Every client is this machine, and CF-Connecting-IP whatever it sent (see sandboxes.ts).
	CLIENT_ADDRESS_SOURCE: 'loopback'
};
// The app's settings (see the README's Configuration), when given.
const SETTINGS = [
	'APP_HOSTS',
	'SANDBOX_TTL_SECONDS',
	'SANDBOX_VISITOR_STARTS_PER_MINUTE',
	'SANDBOX_ADDRESS_STARTS_PER_MINUTE',
	'SANDBOX_ADDRESS_LIVE_SANDBOXES',
	'SANDBOX_MAX_INSTANCES',
	'SANDBOX_RECLAIM_AFTER_SECONDS',
	'SANDBOX_POOL_SIZE',
	'SANDBOX_POOL_TTL_SECONDS',
	'SAVED_EDITS_DAYS'
];
for (const name of SETTINGS) {
	if (process.env[name]) vars[name] = process.env[name];
}
let engine: EngineHandle | undefined;
if (hasDocker) {
	console.log('[preview] Docker engine found: sandboxes run in real containers');
} else {
	console.log('[preview] no Docker engine: containers come from the local engine (bubblewrap)');
	engine = await startEngine();
	vars.SANDBOX_ENGINE_URL = engine.url;
	vars.SANDBOX_ENGINE_SECRET = engine.secret;
	// The coordinators count what the engine can run, unless told otherwise.
	vars.SANDBOX_MAX_INSTANCES ??= String(engine.maxContainers);
	// Every client counts as this machine (CLIENT_ADDRESS_SOURCE): the cap per client address, meant for
	// a shared deployment, would stop your fourth browser window. The engine's capacity bounds it instead.
	vars.SANDBOX_ADDRESS_LIVE_SANDBOXES ??= String(engine.maxContainers);
}
// Durable Object storage for this run only: containers do not outlive it, so neither should the records
// about them (and a file watcher on the project, such as vite dev's, sees no writes).
const state = mkdtempSync(join(tmpdir(), 'sandbox-preview-state-'));
const wrangler = runWranglerDev({
	config: CONFIG,
	entry: engine ? ENGINE_ENTRY : undefined,
	...listen,
	persist: state,
	enableContainers: hasDocker,
	// One worker with its own Durable Objects: no other process binds them.
	devRegistry: false,
	vars
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => wrangler.child.kill(signal));
const code = await wrangler.exited;
await engine?.stop();
rmSync(state, { recursive: true, force: true });
process.exit(code);
