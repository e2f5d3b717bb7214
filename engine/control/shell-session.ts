/**
 * A session: one long-lived bash that runs the session's commands one after another, so that
 * what a command changes in the shell — `cd`, `export`, functions — is there for the next one,
 * as in the real container's sessions.
 *
 * Each command is written to the shell's stdin as a small script that `eval`s it with stdout and
 * stderr redirected to two files of the session's own directory, then reports its exit status on
 * a pipe of its own (fd 3, closed for the command itself). `eval` keeps a command with a syntax
 * error from swallowing the scripts after it.
 *
 * A timeout rejects the caller but does not stop the command: the shell goes on running it, and
 * the next command written to the shell runs when it is done — the real server's behaviour that
 * the SDK's users see ("Command timeout after N ms", then the next exec waits).
 *
 * Callers take the session's lock (`withLock`) around what must not interleave with other
 * commands of the session; the lock is released when a call times out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EXEC_OUTPUT_LIMIT } from './output-buffers.ts';
import { SHELL, exitCodeOf, signalGroup } from './process-groups.ts';
import type { ExecOptions, RawExecResult } from './sessionless.ts';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The session was deleted while a command was waiting for it. */
export class SessionDestroyedError extends Error {
	constructor(sessionId: string) {
		super(`Session '${sessionId}' was destroyed during command execution`);
		this.name = 'SessionDestroyedError';
	}
}

/** The shell exited by itself (a command ran `exit`, or it was killed). */
export class ShellTerminatedError extends Error {
	readonly exitCode: number | null;
	constructor(sessionId: string, exitCode: number | null) {
		super(`Session '${sessionId}' shell exited (exit code: ${exitCode ?? 'unknown'})`);
		this.name = 'ShellTerminatedError';
		this.exitCode = exitCode;
	}
}

interface PendingCommand {
	outFile: string;
	errFile: string;
	settle: (status: number) => void;
	fail: (error: Error) => void;
}

/** The shell's view of things, for starting a process as if the shell had started it. */
export interface ShellState {
	cwd: string;
	env: Record<string, string>;
}

export interface SessionOptions {
	id: string;
	cwd: string;
	env: Record<string, string>;
	/** The session's default timeout for its commands; none when undefined. */
	commandTimeoutMs: number | undefined;
}

export class ShellSession {
	readonly id: string;
	readonly commandTimeoutMs: number | undefined;
	private readonly shell: ChildProcess;
	private readonly dir: string;
	private readonly pending = new Map<number, PendingCommand>();
	private nextCommand = 1;
	private lockTail: Promise<void> = Promise.resolve();
	private alive = true;
	private destroying = false;
	private shellExitCode: number | null = null;
	private readonly exited: Promise<void>;

	private constructor(options: SessionOptions, shell: ChildProcess, dir: string) {
		this.id = options.id;
		this.commandTimeoutMs = options.commandTimeoutMs;
		this.shell = shell;
		this.dir = dir;
		// The shell's stdin closing early (it died) must not crash the server with EPIPE.
		shell.stdin!.on('error', () => {});
		createInterface({ input: shell.stdio[3] as NodeJS.ReadableStream }).on('line', (line) => this.onStatusLine(line));
		this.exited = new Promise((resolve) => {
			shell.once('exit', (code, signal) => {
				this.alive = false;
				this.shellExitCode = exitCodeOf(code, signal);
				const error = this.destroying ? new SessionDestroyedError(this.id) : new ShellTerminatedError(this.id, this.shellExitCode);
				for (const pending of this.pending.values()) pending.fail(error);
				this.pending.clear();
				resolve();
			});
		});
	}

	static async start(options: SessionOptions): Promise<ShellSession> {
		const dir = await mkdtemp(join(tmpdir(), 'sandbox-session-'));
		// A start directory that does not exist falls back to the home directory, as the real sessions do.
		const cwd = (await stat(options.cwd).then((s) => s.isDirectory(), () => false)) ? options.cwd : (process.env.HOME ?? '/');
		const shell = spawn(SHELL, ['--norc', '--noprofile'], {
			cwd,
			env: { ...process.env, ...options.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
			// fd 3 carries the exit statuses; the shell's own stdout and stderr are nobody's output.
			stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
			// Its own process group: deleting the session ends the shell and whatever runs in it.
			detached: true
		});
		await new Promise<void>((resolve, reject) => {
			shell.once('spawn', resolve);
			shell.once('error', reject);
		}).catch(async (error) => {
			await rm(dir, { recursive: true, force: true });
			throw error;
		});
		return new ShellSession(options, shell, dir);
	}

	isReady(): boolean {
		return this.alive && !this.destroying;
	}

	get exitCode(): number | null {
		return this.shellExitCode;
	}

	/** Runs `task` when every earlier task of the session is done (or has given up waiting). */
	withLock<T>(task: () => Promise<T>): Promise<T> {
		const result = this.lockTail.then(task);
		this.lockTail = result.then(
			() => {},
			() => {}
		);
		return result;
	}

	/**
	 * Runs a command in the shell (the caller holds the lock). Output is returned as the real
	 * sessions return it: each stream without its final newline.
	 */
	async exec(command: string, options: ExecOptions = {}): Promise<RawExecResult> {
		const started = Date.now();
		const { stdout, stderr, exitCode } = await this.run(command, options);
		return {
			command,
			stdout: withoutFinalNewline(stdout),
			stderr: withoutFinalNewline(stderr),
			exitCode,
			duration: Date.now() - started,
			timestamp: new Date(started).toISOString()
		};
	}

	/** The shell's working directory and exported environment, read in turn with its other commands. */
	async state(): Promise<ShellState> {
		const { stdout } = await this.run(`builtin printf '%s\\0' "$PWD"; command -p env -0`, {});
		const [cwd, ...entries] = stdout.split('\0');
		const env: Record<string, string> = {};
		for (const entry of entries) {
			const separator = entry.indexOf('=');
			if (separator > 0) env[entry.slice(0, separator)] = entry.slice(separator + 1);
		}
		// `_` is the path of `env` itself, not part of the shell's state.
		delete env._;
		return { cwd, env };
	}

	/** Ends the shell and everything still running in its process group, and removes the session's files. */
	async destroy(): Promise<void> {
		if (this.destroying) return this.exited;
		this.destroying = true;
		if (this.alive && this.shell.pid !== undefined) {
			this.shell.stdin!.end();
			signalGroup(this.shell.pid, 'SIGTERM');
			const timer = setTimeout(() => signalGroup(this.shell.pid!, 'SIGKILL'), 1000);
			await this.exited;
			clearTimeout(timer);
			// What the shell left running in its group (`server &` in an exec) goes with it.
			signalGroup(this.shell.pid, 'SIGKILL');
		}
		await rm(this.dir, { recursive: true, force: true });
	}

	/** Synchronous last resort at server exit: no promise will run after it. */
	killNow() {
		if (this.shell.pid !== undefined) signalGroup(this.shell.pid, 'SIGKILL');
	}

	get directory() {
		return this.dir;
	}

	private async run(command: string, options: ExecOptions): Promise<{ stdout: string; stderr: string; exitCode: number }> {
		if (!this.isReady()) {
			throw this.destroying ? new SessionDestroyedError(this.id) : new ShellTerminatedError(this.id, this.shellExitCode);
		}
		for (const name of Object.keys(options.env ?? {})) {
			if (!ENV_NAME.test(name)) throw new Error(`Invalid environment variable name: ${name}`);
		}
		const id = this.nextCommand++;
		const outFile = join(this.dir, `${id}.out`);
		const errFile = join(this.dir, `${id}.err`);
		const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;

		const status = new Promise<number>((settle, fail) => this.pending.set(id, { outFile, errFile, settle, fail }));
		this.shell.stdin!.write(commandScript(id, command, outFile, errFile, options));

		let timer: ReturnType<typeof setTimeout> | undefined;
		const timedOut = new Promise<never>((_, reject) => {
			if (timeoutMs === undefined) return;
			timer = setTimeout(() => {
				// The command runs on in the shell; its files are removed when it reports (onStatusLine).
				const pending = this.pending.get(id);
				if (pending) pending.settle = () => void removeFiles(outFile, errFile);
				reject(new Error(`Command timeout after ${timeoutMs}ms`));
			}, timeoutMs);
		});
		try {
			const exitCode = await Promise.race([status, timedOut]);
			const [stdout, stderr] = await Promise.all([readBounded(outFile), readBounded(errFile)]);
			await removeFiles(outFile, errFile);
			return { stdout, stderr, exitCode };
		} finally {
			clearTimeout(timer);
		}
	}

	private onStatusLine(line: string) {
		const match = /^done (\d+) (\d+)$/.exec(line);
		if (!match) return;
		const id = Number(match[1]);
		const pending = this.pending.get(id);
		if (!pending) return;
		this.pending.delete(id);
		pending.settle(Number(match[2]));
	}
}

/**
 * The script one command becomes. A per-call cwd and env apply to this command only: the shell
 * returns to its directory and restores the variables afterwards, as the real sessions do.
 */
function commandScript(id: number, command: string, outFile: string, errFile: string, options: ExecOptions): string {
	const env = Object.entries(options.env ?? {});
	const setEnv = env.flatMap(([name, value], index) => [
		`__sbx_had_${index}=\${${name}+x}; __sbx_old_${index}=\${${name}-}`,
		`export ${name}=${quote(value)}`
	]);
	const restoreEnv = env.flatMap(([name], index) => [
		`if [ -n "$__sbx_had_${index}" ]; then ${name}=$__sbx_old_${index}; else unset ${name}; fi`,
		`unset __sbx_had_${index} __sbx_old_${index}`
	]);
	const run = [
		...setEnv,
		`builtin eval ${quote(command)} </dev/null >${quote(outFile)} 2>${quote(errFile)} 3>&-`,
		'__sbx_status=$?',
		...restoreEnv
	];
	const lines = options.cwd === undefined
		? run
		: [
				'__sbx_previous_dir=$PWD',
				`if builtin cd -- ${quote(options.cwd)} 2>/dev/null; then`,
				...run,
				'builtin cd -- "$__sbx_previous_dir" 2>/dev/null',
				'else',
				`builtin printf '%s\\n' ${quote(`Failed to change directory to ${quote(options.cwd)}`)} >${quote(errFile)}; : >${quote(outFile)}`,
				'__sbx_status=1',
				'fi'
			];
	return `${lines.join('\n')}\nbuiltin printf 'done %s %s\\n' ${id} "$__sbx_status" >&3\n`;
}

/** Quotes a string for bash: single quotes, with each embedded quote closed, escaped and reopened. */
export function quote(text: string): string {
	return `'${text.replaceAll("'", `'\\''`)}'`;
}

function withoutFinalNewline(text: string): string {
	return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** At most EXEC_OUTPUT_LIMIT bytes of a command's output: a command cannot exhaust the server's memory. */
async function readBounded(path: string): Promise<string> {
	const file = await open(path, 'r').catch(() => undefined);
	if (!file) return '';
	try {
		const buffer = Buffer.alloc(Math.min(EXEC_OUTPUT_LIMIT, (await file.stat()).size));
		const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
		return buffer.subarray(0, bytesRead).toString('utf8');
	} finally {
		await file.close();
	}
}

async function removeFiles(...paths: string[]) {
	await Promise.all(paths.map((path) => rm(path, { force: true })));
}
