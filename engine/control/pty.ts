/**
 * A pseudo-terminal running a shell: what the real container builds with `Bun.Terminal`, built here
 * from util-linux's `script`, which allocates the pty, runs the shell on its slave side and copies
 * bytes between its own pipes and the master. Node has no pty of its own without a native module.
 *
 * Resizing sets the slave's window size with `stty -F`, which is what the kernel turns into
 * SIGWINCH for the shell's foreground job. The output's last 256 KiB are kept, so that a socket
 * that connects again sees the screen it left (the real server's replay).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { childrenOf, processStats } from '../proc.ts';
import { exitCodeOf, signalGroup } from './process-groups.ts';

/** The real server's replay buffer. */
const REPLAY_BYTES = 256 * 1024;
/** How long `script` may take to start the shell on its pty. */
const SLAVE_WAIT_MS = 2000;

export interface PtyOptions {
	cwd: string;
	env: Record<string, string>;
	cols: number;
	rows: number;
	/** An absolute path, checked by the caller (it is part of a command line). */
	shell: string;
}

export class Pty {
	private readonly script: ChildProcess;
	private readonly dataListeners = new Set<(data: Buffer) => void>();
	private readonly exitListeners = new Set<(code: number) => void>();
	private replay: Buffer[] = [];
	private replayBytes = 0;
	/** The pty's slave side (`/dev/pts/N`), which the shell has as its terminal. */
	private slave: string | undefined;
	/** Keystrokes and resizes, applied in the order they came. */
	private inputs: Promise<void> = Promise.resolve();
	private exitCode: number | null = null;

	private constructor(script: ChildProcess) {
		this.script = script;
		script.stdin!.on('error', () => {});
		script.stdout!.on('data', (data: Buffer) => this.emit(data));
		script.once('exit', (code, signal) => {
			this.exitCode = exitCodeOf(code, signal);
			this.killShellSession();
			for (const listener of this.exitListeners) listener(this.exitCode);
		});
	}

	static async start(options: PtyOptions): Promise<Pty> {
		const env: Record<string, string> = { ...options.env, TERM: 'xterm-256color', SHELL: options.shell };
		const script = spawn('script', ['--quiet', '--return', '--command', `exec ${options.shell}`, '/dev/null'], {
			cwd: options.cwd,
			env: env as NodeJS.ProcessEnv,
			stdio: ['pipe', 'pipe', 'ignore'],
			// Its own group, so that destroy() reaches `script`; the shell leads a session of its own.
			detached: true
		});
		await new Promise<void>((resolve, reject) => {
			script.once('spawn', resolve);
			script.once('error', reject);
		});
		const pty = new Pty(script);
		pty.slave = await pty.findSlave();
		pty.resize(options.cols, options.rows);
		return pty;
	}

	get closed(): boolean {
		return this.exitCode !== null;
	}

	/** What the terminal has shown lately, oldest first. */
	bufferedOutput(): Buffer {
		return Buffer.concat(this.replay);
	}

	onData(listener: (data: Buffer) => void): () => void {
		this.dataListeners.add(listener);
		return () => this.dataListeners.delete(listener);
	}

	onExit(listener: (code: number) => void): () => void {
		this.exitListeners.add(listener);
		return () => this.exitListeners.delete(listener);
	}

	write(data: Buffer) {
		this.inputs = this.inputs.then(() => {
			if (!this.closed) this.script.stdin!.write(data);
		});
	}

	/** Holds the output back while a reader is behind: `script`, then the shell's programs, block on a full pty. */
	pause() {
		this.script.stdout!.pause();
	}

	resume() {
		this.script.stdout!.resume();
	}

	resize(cols: number, rows: number) {
		this.inputs = this.inputs.then(
			() =>
				new Promise<void>((resolve) => {
					if (!this.slave || this.closed) return resolve();
					const stty = spawn('stty', ['-F', this.slave, 'cols', String(cols), 'rows', String(rows)], { stdio: 'ignore' });
					stty.once('exit', () => resolve());
					stty.once('error', () => resolve());
				})
		);
	}

	/** Ends the shell and everything started from it, background jobs included. */
	destroy() {
		if (this.closed) return;
		this.killShellSession();
		if (this.script.pid !== undefined) signalGroup(this.script.pid, 'SIGKILL');
	}

	private emit(data: Buffer) {
		this.replay.push(data);
		this.replayBytes += data.length;
		while (this.replayBytes - this.replay[0].length >= REPLAY_BYTES) this.replayBytes -= this.replay.shift()!.length;
		for (const listener of this.dataListeners) listener(data);
	}

	/** The shell is `script`'s only child, and its stdin is the slave side: found once `script` has started it. */
	private async findSlave(): Promise<string | undefined> {
		const deadline = Date.now() + SLAVE_WAIT_MS;
		while (!this.closed && Date.now() < deadline) {
			const shell = this.script.pid === undefined ? undefined : childrenOf(this.script.pid)[0];
			try {
				const stdin = shell === undefined ? '' : readlinkSync(`/proc/${shell}/fd/0`);
				if (stdin.startsWith('/dev/pts/')) return stdin;
			} catch {
				// Not there yet, or gone.
			}
			await new Promise((resolve) => setTimeout(resolve, 10));
		}
		return undefined;
	}

	/** The shell's session: it, its jobs, and what they started, unless they left it on purpose. */
	private killShellSession() {
		const shell = this.script.pid === undefined ? undefined : childrenOf(this.script.pid)[0];
		if (shell === undefined) return;
		for (const pid of sessionMembers(shell)) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				// Gone already.
			}
		}
	}
}

function sessionMembers(leader: number): number[] {
	return processStats()
		.filter((stat) => stat.session === leader)
		.map((stat) => stat.pid);
}
