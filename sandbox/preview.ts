/**
 * `npm run preview`: runs the built worker in workerd with `wrangler dev`.
 * - With a Docker engine: real Cloudflare sandbox containers, built from sandbox/Dockerfile.
 * - Without one: containers disabled, and the local sandbox runtime as the backend, so the whole
 *   production path — worker entry, hooks, form actions, WebSockets from WebSocketPair, waitUntil —
 *   still runs in the production runtime.
 *
 * Extra arguments go to `wrangler dev` (e.g. `npm run preview -- --port 8790`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime } from './local/launch.ts';

// Run with this Node (24): wrangler needs >= 22.12, and the system's may be older.
const WRANGLER = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));

// Visitor cookies are signed: a key for this run, unless one is given.
const extra = ['--var', `SESSION_SECRET:${process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url')}`, ...process.argv.slice(2)];
const hasDocker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

async function main() {
	if (hasDocker) {
		console.log('[preview] Docker engine found: sandboxes run in real containers');
		return run(['dev', ...extra], () => {});
	}
	console.log('[preview] no Docker engine: sandboxes come from the local sandbox runtime');
	const runtime = await startLocalRuntime();
	const vars = ['--var', `LOCAL_SANDBOX_URL:${runtime.url}`, '--var', `LOCAL_SANDBOX_SECRET:${runtime.secret}`];
	return run(['dev', '--enable-containers=false', ...vars, ...extra], () => runtime.stop());
}

async function run(args: string[], cleanUp: () => Promise<void> | void) {
	const wrangler = spawn(process.execPath, [WRANGLER, ...args], { stdio: 'inherit' });
	for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => wrangler.kill(signal));
	const code = await new Promise<number>((resolve) => {
		wrangler.once('exit', (exitCode) => resolve(exitCode ?? 1));
		wrangler.once('error', (error) => {
			console.error(`[preview] cannot run wrangler: ${error.message} (run \`npm install\` first)`);
			resolve(1);
		});
	});
	await cleanUp();
	process.exit(code);
}

await main();
