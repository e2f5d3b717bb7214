/**
 * The app's two ways to run, both with the sandbox code in workerd:
 *
 *   dev      `npm run dev` (dev/dev.ts): vite dev — SvelteKit in Node — and a companion
 *            `wrangler dev` with the Durable Objects, reached through wrangler's platform proxy;
 *            vite dev passes preview hosts to the companion.
 *   preview  `npm run preview` (dev/preview.ts): the built worker (SvelteKit and the Durable
 *            Objects) in `wrangler dev`, after `vite build`.
 *
 * Both run at once, each on a port of its own picked free (not the e2e suite's 5173 and 8787, so
 * that the bench and the suite do not answer for each other), with a state directory of its own for
 * its engine's sandboxes: once stopped, nothing may be left of them — no process, no file, no loop
 * device.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveProcesses, loopDevicesUnder } from '../tests/helpers/host.ts';
import { freePort } from '../tests/helpers/ports.ts';

export const TARGETS = {
	dev: {
		label: 'dev (vite dev + companion workerd)',
		script: 'dev/dev.ts',
		args: (port: number) => ['--port', String(port), '--strictPort']
	},
	preview: {
		label: 'preview (workerd)',
		script: 'dev/preview.ts',
		// (Both keep their Durable Objects' storage in a directory of their own, outside the project.)
		args: (port: number) => ['--port', String(port)]
	}
} as const;

export type TargetName = keyof typeof TARGETS;
export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

/** Sandboxes one target's engine runs at once: the largest visitors' round, and then some. */
const SANDBOX_MAX = 24;
const START_TIMEOUT_MS = 120_000;
/**
 * The app's own limits, out of the way: every start of the bench comes from one address, and a
 * section makes dozens a minute (20 at once in the visitors' largest round). No warm pool.
 */
const SETTINGS = {
	SANDBOX_VISITOR_STARTS_PER_MINUTE: '10000',
	SANDBOX_ADDRESS_STARTS_PER_MINUTE: '10000',
	SANDBOX_ADDRESS_LIVE_SANDBOXES: '10000',
	// Every boot measured is a boot, unless a section measures the warm pool (pool.ts).
	SANDBOX_POOL_SIZE: '0'
};

let built = false;

/** `vite build`, once per bench run: what the preview target serves. */
function buildOnce() {
	if (built) return;
	const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { encoding: 'utf8' });
	if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
	built = true;
}

export interface Target {
	name: TargetName;
	port: number;
	origin: string;
	/** From the spawn of its command to its start page served (200). */
	launchMs: number;
	/** Everything it printed so far. */
	output(): string;
}

/** How a section wants the targets run: how many sandboxes each engine runs at once, and more settings. */
export interface TargetOptions {
	sandboxMax?: number;
	env?: Record<string, string>;
}

/** Starts a target; resolves once its home page answers 200. */
export async function startTarget(name: TargetName, { sandboxMax = SANDBOX_MAX, env = {} }: TargetOptions): Promise<{ target: Target; stop(): Promise<void> }> {
	if (name === 'preview') buildOnce();
	const { script, args } = TARGETS[name];
	const port = await freePort();
	const stateDir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
	const spawnedAt = performance.now();
	const app = spawn(process.execPath, [script, ...args(port)], {
		env: { ...process.env, ...SETTINGS, ...env, SANDBOX_ENGINE_STATE_DIR: stateDir, SANDBOX_ENGINE_MAX: String(sandboxMax) },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	app.stdout.on('data', (chunk) => (output += chunk));
	app.stderr.on('data', (chunk) => (output += chunk));
	const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));
	const origin = `http://localhost:${port}`;

	const stop = async () => {
		if (app.exitCode === null && app.signalCode === null) app.kill('SIGTERM');
		await exited;
		const leftovers = liveProcesses().filter((p) => p.cmdline.includes(stateDir));
		const loops = loopDevicesUnder(stateDir);
		const files = existsSync(stateDir) ? readdirSync(stateDir) : [];
		rmSync(stateDir, { recursive: true, force: true });
		if (leftovers.length > 0 || loops.length > 0 || files.length > 0) {
			const processes = leftovers.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 120)}…`).join('\n');
			throw new Error(`${TARGETS[name].label}: sandboxes outlived the app:\n${processes}\nloop devices: ${loops.join(', ')}\nstate left: ${files.join(', ')}`);
		}
	};

	const deadline = performance.now() + START_TIMEOUT_MS;
	for (;;) {
		const failure = app.exitCode !== null ? 'exited during start' : performance.now() > deadline ? `did not start within ${START_TIMEOUT_MS / 1000} s` : null;
		if (failure) {
			await stop().catch(() => {});
			throw new Error(`${TARGETS[name].label} ${failure}:\n${output.slice(-4000)}`);
		}
		if (await fetch(`${origin}/`).then((r) => r.ok, () => false)) break;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	const launchMs = performance.now() - spawnedAt;
	return { target: { name, port, origin, launchMs, output: () => output }, stop };
}

/**
 * Runs `use` with both targets up at once — the caller alternates between them, so that a machine
 * slowing down mid-run (it is shared) weighs on both alike — and stops both after, checking that
 * their sandboxes are all gone.
 */
export async function withTargets<T>(use: (targets: Record<TargetName, Target>) => Promise<T>, options: TargetOptions = {}): Promise<T> {
	const started: { target: Target; stop(): Promise<void> }[] = [];
	const stopAll = async () => {
		const failures: string[] = [];
		for (const { stop } of started.splice(0)) await stop().catch((error: Error) => failures.push(error.message));
		if (failures.length > 0) throw new Error(failures.join('\n'));
	};
	let result: T;
	try {
		// One after the other: a start (vite build, wrangler's bundling) is CPU-bound.
		for (const name of TARGET_NAMES) started.push(await startTarget(name, options));
		result = await use(Object.fromEntries(started.map(({ target }) => [target.name, target])) as Record<TargetName, Target>);
	} catch (error) {
		const outputs = started.map(({ target }) => `--- ${TARGETS[target.name].label}, its output's last part:\n${target.output().slice(-3000)}`);
		await stopAll().catch(() => {});
		throw new Error(`${(error as Error).message}\n${outputs.join('\n')}`, { cause: error });
	}
	await stopAll();
	return result;
}
