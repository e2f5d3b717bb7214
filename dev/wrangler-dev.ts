/**
 * Runs a worker in workerd as `wrangler dev` does, for `npm run preview`, `npm run dev` and the
 * tests: through wrangler-worker.ts (wrangler's API, which can leave workerd's inspector and debug
 * port closed; see there), with this Node (24; wrangler needs >= 22.12, and the system's may be
 * older), secrets in a file only this user can read (not on a command line: any local user can
 * read those in /proc), and in a process group of its own — workerd runs as that process's
 * children, which would outlive it if it were killed (holding the port, their Durable Objects
 * calling a gone engine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerDerivation } from './worker-config.ts';

const WORKER = fileURLToPath(new URL('./wrangler-worker.ts', import.meta.url));
/** How long a worker may take to serve: wrangler's bundling and workerd's start, on a busy machine. */
const READY_TIMEOUT_MS = 120_000;

export interface WranglerDevOptions {
	/** The wrangler configuration file. */
	config: string;
	/** Runs a worker derived from `config` (worker-config.ts) rather than the one it configures. */
	derive?: WorkerDerivation;
	/** The worker's entry, when not the configuration's `main`. */
	entry?: string;
	/** The worker's name, when not the configuration's (the name the dev registry knows it by). */
	name?: string;
	/**
	 * Where it listens; wrangler's defaults (localhost, 8787 or the next free port) when not given.
	 * Port 0: one the system picks as the worker binds it (`ready` says which), so no race for it.
	 */
	ip?: string;
	port?: number;
	/** Serves https, with wrangler's self-signed certificate. */
	https?: boolean;
	/** The directory of its Durable Objects' storage. */
	persist: string;
	/** workerd's own containers (a Docker engine); without them the local engine's stand in (preview-worker.ts). */
	enableContainers: boolean;
	/**
	 * Registers the worker in the dev registry at WRANGLER_REGISTRY_PATH, so that other processes'
	 * `script_name` bindings reach its Durable Objects and its own reach theirs. That opens workerd's
	 * debug port, through which any local process can call its Durable Objects: only where needed.
	 */
	devRegistry: boolean;
	/** Reloads the worker when a file it was built from changes (default: runs what it started with). */
	watch?: boolean;
	/** The worker's variables, secrets among them. */
	vars: Record<string, string>;
	env?: NodeJS.ProcessEnv;
	stdio?: 'inherit' | 'pipe';
}

export interface WranglerDev {
	child: ChildProcess;
	/** Resolves with the worker's URL once it serves; rejects if it exits first, or is stopped after 120 s without. */
	ready: Promise<URL>;
	/** Resolves with the worker process's exit code once it and its process group are gone. */
	exited: Promise<number>;
	/** Stops the worker (SIGTERM; SIGKILL to its group after 10 s), then whatever of its group is left. */
	stop(): Promise<number>;
}

export function runWranglerDev(options: WranglerDevOptions): WranglerDev {
	const { vars, env = process.env, stdio = 'inherit' } = options;
	const registry = env.WRANGLER_REGISTRY_PATH;
	if (options.devRegistry && !registry) throw new Error('a worker in the dev registry needs WRANGLER_REGISTRY_PATH: the registry of this run');
	const dir = mkdtempSync(join(tmpdir(), 'sandbox-wrangler-'));
	const envFile = join(dir, '.env');
	writeFileSync(envFile, Object.entries(vars).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });

	const args = [WORKER, '--config', options.config, '--persist', options.persist, '--env-file', envFile];
	if (options.entry) args.push('--entry', options.entry);
	if (options.name) args.push('--name', options.name);
	if (options.ip) args.push('--ip', options.ip);
	if (options.port !== undefined) args.push('--port', String(options.port));
	if (options.https) args.push('--https');
	if (options.enableContainers) args.push('--containers');
	if (options.devRegistry) args.push('--dev-registry', registry!);
	if (options.watch) args.push('--watch');
	if (options.derive) args.push('--derive', JSON.stringify(options.derive));
	// No stdin: the process is in a group of its own, and a read from the terminal would stop it.
	// The IPC channel carries one message: the URL, once the worker serves.
	// Wrangler's own temporary files (miniflare's) go in this run's folder too, which is removed when
	// the process exits: killed, it could not remove them itself.
	const tmp = join(dir, 'tmp');
	mkdirSync(tmp);
	const child = spawn(process.execPath, args, { stdio: ['ignore', stdio, stdio, 'ipc'], env: { ...env, TMPDIR: tmp }, detached: true });
	const exited = new Promise<number>((resolve) => {
		child.once('exit', (code) => resolve(code ?? 1));
		child.once('error', (error) => {
			console.error(`cannot run wrangler: ${error.message} (run \`npm install\` first)`);
			resolve(1);
		});
	}).then((code) => {
		try {
			process.kill(-child.pid!, 'SIGKILL');
		} catch {
			// The group is empty: the worker process took workerd down with it.
		}
		rmSync(dir, { recursive: true, force: true });
		return code;
	});
	const ready = new Promise<URL>((resolve, reject) => {
		child.once('message', (message: { ready?: string }) => (message.ready ? resolve(new URL(message.ready)) : reject(new Error(`unexpected message from the worker process: ${JSON.stringify(message)}`))));
		void exited.then((code) => reject(new Error(`wrangler dev exited (${code}) before the worker served`)));
		// One that hangs (wrangler can stay up after an error in the worker) is stopped.
		const deadline = setTimeout(() => {
			reject(new Error(`wrangler dev did not serve the worker within ${READY_TIMEOUT_MS / 1000} s`));
			void handle.stop();
		}, READY_TIMEOUT_MS);
		void exited.then(() => clearTimeout(deadline));
		child.once('message', () => clearTimeout(deadline));
	});
	// Unobserved, a failed start still surfaces through `exited`.
	ready.catch(() => {});
	const handle: WranglerDev = {
		child,
		ready,
		exited,
		stop() {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGTERM');
				// One that does not go within 10 s goes with its whole group.
				const kill = setTimeout(() => {
					try {
						process.kill(-child.pid!, 'SIGKILL');
					} catch {
						// Gone meanwhile.
					}
				}, 10_000);
				void exited.then(() => clearTimeout(kill));
			}
			return exited;
		}
	};
	return handle;
}
