/**
 * Starts the local container engine (main.ts) as a child process with a fresh secret, and hands
 * its address and secret to whoever started it: `npm run dev` and `npm run preview` (which pass
 * them on to workerd), the tests and the benchmarks.
 *
 * The engine holds one end of a socket pair from the launcher: when the
 * launcher ends — normally, by a signal, or killed — the engine destroys its
 * containers and exits too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

export interface EngineHandle {
	url: string;
	secret: string;
	/** How many containers it runs at once (SANDBOX_ENGINE_MAX, or what it sized to the machine). */
	maxContainers: number;
	/** The engine's process, e.g. to kill it in a crash test. */
	child: ChildProcess;
	/** Everything the engine printed (when started with `output: 'capture'`). */
	output: () => string;
	/** Stops the engine (SIGTERM) and waits until it has cleaned up and exited. */
	stop(): Promise<void>;
}

export interface StartOptions {
	/** Extra engine configuration (SANDBOX_ENGINE_MAX, …). */
	env?: Record<string, string>;
	/** `inherit` shows the engine's log in this terminal; `capture` keeps it for `output()`. */
	output?: 'inherit' | 'capture';
}

export async function startEngine({ env = {}, output = 'inherit' }: StartOptions = {}): Promise<EngineHandle> {
	const secret = randomBytes(32).toString('base64url');
	const child = spawn(process.execPath, [MAIN], {
		env: { ...process.env, ...env, SANDBOX_ENGINE_SECRET: secret, SANDBOX_ENGINE_READY_FD: '3' },
		stdio: ['ignore', output === 'inherit' ? 'inherit' : 'pipe', output === 'inherit' ? 'inherit' : 'pipe', 'pipe']
	});
	let log = '';
	child.stdout?.on('data', (chunk) => (log += chunk));
	child.stderr?.on('data', (chunk) => (log += chunk));
	const exited = new Promise<void>((resolve) => {
		child.once('exit', () => resolve());
		// A spawn that fails (no memory, no process slots) emits 'error' instead of 'exit'; unheard,
		// it would be thrown and take the launcher — and with it the app — down without a word.
		child.once('error', (error) => {
			log += `${error.message}\n`;
			resolve();
		});
	});

	const channel = child.stdio[3] as Socket;
	// The channel carries only the ready line: how it ends when the engine goes is of no interest
	// (the engine's exit is), but an unheard 'error' on it would be thrown.
	channel.on('error', () => {});
	const { url, maxContainers } = await new Promise<{ url: string; maxContainers: number }>((resolve, reject) => {
		createInterface({ input: channel }).once('line', (line) => resolve(JSON.parse(line)));
		void exited.then(() => reject(new Error(`The local container engine exited during start (code ${child.exitCode}).\n${log}`)));
	});

	return {
		url,
		secret,
		maxContainers,
		child,
		output: () => log,
		async stop() {
			if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
			await exited;
			channel.destroy();
		}
	};
}
