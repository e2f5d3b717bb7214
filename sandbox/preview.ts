/**
 * `npm run preview`: runs the built worker in workerd with `wrangler dev`, the Durable Objects
 * included.
 * - With a Docker engine: real Cloudflare sandbox containers, built from sandbox/Dockerfile.
 * - Without one: workerd's containers disabled, and the SDK's Durable Object gets its containers
 *   from the local engine (preview-worker.ts): the same worker code as production end to end, only
 *   the container underneath differs.
 *
 * Extra arguments go to `wrangler dev` (e.g. `npm run preview -- --port 8790`).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime, type LocalRuntimeHandle } from './local/launch.ts';
import { runWranglerDev } from './wrangler-dev.ts';

/** The app's worker entry with the local engine's containers under the Sandbox Durable Object. */
const ENGINE_ENTRY = fileURLToPath(new URL('./preview-worker.ts', import.meta.url));

const hasDocker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

// Visitor cookies are signed: a key for this run, unless one is given.
const vars: Record<string, string> = { SESSION_SECRET: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url') };
// The app's settings (see the README's Configuration), when given.
for (const name of ['SANDBOX_TTL_SECONDS', 'SANDBOX_VISITOR_STARTS_PER_MINUTE', 'SANDBOX_ADDRESS_STARTS_PER_MINUTE']) {
	if (process.env[name]) vars[name] = process.env[name];
}
let args: string[] = [];
let engine: LocalRuntimeHandle | undefined;
if (hasDocker) {
	console.log('[preview] Docker engine found: sandboxes run in real containers');
} else {
	console.log('[preview] no Docker engine: containers come from the local engine (bubblewrap)');
	engine = await startLocalRuntime();
	vars.LOCAL_CONTAINER_ENGINE_URL = engine.url;
	vars.LOCAL_CONTAINER_ENGINE_SECRET = engine.secret;
	args = [ENGINE_ENTRY, '--enable-containers=false'];
}
// Durable Object storage for this run only: containers do not outlive it, so neither should the records
// about them (and a file watcher on the project, such as vite dev's, sees no writes).
const state = mkdtempSync(join(tmpdir(), 'sandbox-preview-state-'));
const wrangler = runWranglerDev([...args, '--persist-to', state, ...process.argv.slice(2)], { vars });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => wrangler.child.kill(signal));
const code = await wrangler.exited;
await engine?.stop();
rmSync(state, { recursive: true, force: true });
process.exit(code);
