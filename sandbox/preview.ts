/**
 * `npm run preview`: runs the built worker in workerd with `wrangler dev`, the SDK's own `Sandbox`
 * Durable Object included.
 * - With a Docker engine: real Cloudflare sandbox containers, built from sandbox/Dockerfile.
 * - Without one: workerd's containers disabled, and the Durable Object's containers come from the
 *   local engine (preview-worker.ts): the same worker code as production end to end, only the
 *   container underneath differs.
 *
 * Extra arguments go to `wrangler dev` (e.g. `npm run preview -- --port 8790`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime, type LocalRuntimeHandle } from './local/launch.ts';

// Run with this Node (24): wrangler needs >= 22.12, and the system's may be older.
const WRANGLER = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));
/** The app's worker entry with the local engine's containers under the Sandbox Durable Object. */
const ENGINE_ENTRY = fileURLToPath(new URL('./preview-worker.ts', import.meta.url));

const hasDocker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

async function main() {
	// Visitor cookies are signed: a key for this run, unless one is given.
	const vars: Record<string, string> = { SESSION_SECRET: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url') };
	let args = ['dev'];
	let engine: LocalRuntimeHandle | undefined;
	if (hasDocker) {
		console.log('[preview] Docker engine found: sandboxes run in real containers');
	} else {
		console.log('[preview] no Docker engine: containers come from the local engine (bubblewrap)');
		engine = await startLocalRuntime();
		vars.LOCAL_CONTAINER_ENGINE_URL = engine.url;
		vars.LOCAL_CONTAINER_ENGINE_SECRET = engine.secret;
		args = ['dev', ENGINE_ENTRY, '--enable-containers=false'];
	}
	// Secrets reach workerd in a file only this user can read, not on a command line (any local user
	// can read those in /proc).
	const dir = mkdtempSync(join(tmpdir(), 'sandbox-preview-'));
	const envFile = join(dir, '.env');
	writeFileSync(envFile, Object.entries(vars).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
	return run([...args, '--env-file', envFile, ...process.argv.slice(2)], async () => {
		rmSync(dir, { recursive: true, force: true });
		await engine?.stop();
	});
}

async function run(args: string[], cleanUp: () => Promise<void> | void) {
	// A process group of its own: wrangler runs workerd as its grandchildren, which would outlive a
	// wrangler that is killed (holding the port, their Durable Objects calling a gone engine).
	const wrangler = spawn(process.execPath, [WRANGLER, ...args], { stdio: 'inherit', detached: true });
	for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => wrangler.kill(signal));
	const code = await new Promise<number>((resolve) => {
		wrangler.once('exit', (exitCode) => resolve(exitCode ?? 1));
		wrangler.once('error', (error) => {
			console.error(`[preview] cannot run wrangler: ${error.message} (run \`npm install\` first)`);
			resolve(1);
		});
	});
	try {
		process.kill(-wrangler.pid!, 'SIGKILL');
	} catch {
		// The group is empty: wrangler took workerd down with it.
	}
	await cleanUp();
	process.exit(code);
}

await main();
