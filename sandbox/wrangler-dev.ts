/**
 * Runs `wrangler dev` for `npm run preview` and `npm run dev`: with this Node (24; wrangler needs
 * >= 22.12, and the system's may be older), secrets in a file only this user can read (not on a
 * command line: any local user can read those in /proc), and in a process group of its own —
 * wrangler runs workerd as its grandchildren, which would outlive a wrangler that is killed
 * (holding the port, their Durable Objects calling a gone engine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WRANGLER = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));

export interface WranglerDev {
	child: ChildProcess;
	/** Resolves with wrangler's exit code once it and its process group are gone. */
	exited: Promise<number>;
	/** Stops wrangler (SIGTERM; SIGKILL to its group after 10 s), then whatever of its group is left. */
	stop(): Promise<number>;
}

export function runWranglerDev(args: string[], { vars, env = process.env, stdio = 'inherit' }: { vars: Record<string, string>; env?: NodeJS.ProcessEnv; stdio?: 'inherit' | 'pipe' }): WranglerDev {
	const dir = mkdtempSync(join(tmpdir(), 'sandbox-wrangler-'));
	const envFile = join(dir, '.env');
	writeFileSync(envFile, Object.entries(vars).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
	const child = spawn(process.execPath, [WRANGLER, 'dev', ...args, '--env-file', envFile], { stdio, env, detached: true });
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
			// The group is empty: wrangler took workerd down with it.
		}
		rmSync(dir, { recursive: true, force: true });
		return code;
	});
	return {
		child,
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
}

/** Resolves once `url` answers at all (any status), or rejects when `exited` settles first. */
export async function waitUntilServing(url: string, exited: Promise<unknown>, what: string): Promise<void> {
	let gone = false;
	void exited.then(() => (gone = true));
	for (const started = Date.now(); Date.now() - started < 120_000; ) {
		if (gone) throw new Error(`${what} exited during start`);
		if (await fetch(url).then(() => true, () => false)) return;
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	throw new Error(`${what} did not start within 120 s`);
}
