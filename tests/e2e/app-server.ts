/**
 * Playwright's global setup: runs the app the way `npm run dev` does
 * (launcher → sandbox runtime + vite dev) and, at the end, stops it and
 * checks that every sandbox it made is gone — no process, no workspace.
 * (Playwright's own webServer is stopped only after global teardown, too
 * late for that check.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveProcesses } from '../helpers/local-runtime.ts';

export const APP_PORT = 5173;

export default async function setup() {
	const stateDir = mkdtempSync(join(tmpdir(), 'sandbox-e2e-'));
	const app = spawn(process.execPath, ['sandbox/local/launch.ts', 'vite', 'dev', '--port', String(APP_PORT), '--strictPort'], {
		env: { ...process.env, LOCAL_SANDBOX_STATE_DIR: stateDir, LOCAL_SANDBOX_MAX: '6' },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	app.stdout.on('data', (chunk) => (output += chunk));
	app.stderr.on('data', (chunk) => (output += chunk));
	const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));

	for (let attempt = 0; ; attempt++) {
		if (app.exitCode !== null) throw new Error(`the app exited during start:\n${output}`);
		if (await fetch(`http://localhost:${APP_PORT}/`).then((r) => r.ok, () => false)) break;
		if (attempt > 240) throw new Error(`the app did not start within 60 s:\n${output}`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}

	return async () => {
		app.kill('SIGTERM');
		await exited;
		// The app's log, for reading after a failure.
		mkdirSync('test-results', { recursive: true });
		writeFileSync('test-results/app-server.log', output);
		const leftovers = liveProcesses().filter((p) => p.cmdline.includes(stateDir));
		const files = existsSync(stateDir) ? readdirSync(stateDir) : [];
		rmSync(stateDir, { recursive: true, force: true });
		if (leftovers.length > 0 || files.length > 0) {
			const processes = leftovers.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 120)}…`).join('\n');
			throw new Error(`the app's sandboxes outlived it:\n${processes}\nstate left: ${files.join(', ')}\n\n${output}`);
		}
	};
}
