/**
 * Playwright's global setup: builds the worker, then runs the app twice over, as a developer would —
 * `npm run dev` (vite dev, port 5173) and `npm run preview` (the built worker in workerd with the
 * local sandbox runtime, port 8787) — and at the end stops both and checks that every sandbox they
 * made is gone: no process, no workspace. (Playwright's own webServer stops only after global
 * teardown, too late for that check.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveProcesses } from '../helpers/host.ts';

export const TARGETS = {
	'vite-dev': { port: 5173, command: ['sandbox/dev.ts', '--port', '5173', '--strictPort'] },
	worker: { port: 8787, command: ['sandbox/preview.ts', '--port', '8787'] }
} as const;

export async function startTarget(name: keyof typeof TARGETS) {
	const { port, command } = TARGETS[name];
	const stateDir = mkdtempSync(join(tmpdir(), `sandbox-e2e-${name}-`));
	const app = spawn(process.execPath, command, {
		// Sandboxes outlive their tests until the TTL, as they would for visitors: room for all of them.
		env: { ...process.env, LOCAL_SANDBOX_STATE_DIR: stateDir, LOCAL_SANDBOX_MAX: '24' },
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
		if (await fetch(`http://localhost:${port}/`).then((r) => r.ok, () => false)) break;
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
		if (leftovers.length > 0 || files.length > 0) {
			const processes = leftovers.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 120)}…`).join('\n');
			throw new Error(`${name}: sandboxes outlived the app:\n${processes}\nstate left: ${files.join(', ')}`);
		}
	};
}

export default async function setup() {
	const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { encoding: 'utf8' });
	if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
	const stops = [await startTarget('vite-dev')];
	try {
		stops.push(await startTarget('worker'));
	} catch (error) {
		await stops[0]();
		throw error;
	}
	return async () => {
		for (const stop of stops) await stop();
	};
}
