/**
 * Sessionless execution (`getSandbox(…, { enableDefaultSession: false })`, which the SDK sends as
 * the session ID `__DISABLE_SESSION__`): every command is a fresh `bash -c` in the workspace, in a
 * process group of its own, with nothing carried over from earlier commands. A timeout ends the
 * whole group and the call still answers, with exit code 124 and a note on stderr — as the real
 * server does.
 */
import { stat } from 'node:fs/promises';
import { EXEC_OUTPUT_LIMIT, HeadBuffer } from './output-buffers.ts';
import { exitCodeOf, spawnInOwnGroup, terminateGroup } from './process-groups.ts';

export const SESSIONLESS_ID = '__DISABLE_SESSION__';
const TIMEOUT_EXIT_CODE = 124;
/** Once the shell has exited, how long output still in the pipes may take to arrive. */
export const OUTPUT_DRAIN_MS = 100;

export interface ExecOptions {
	cwd?: string;
	env?: Record<string, string>;
	timeoutMs?: number;
}

/** What running one command yields, in a session or not. */
export interface RawExecResult {
	command: string;
	stdout: string;
	stderr: string;
	exitCode: number;
	duration: number;
	/** When the command started. */
	timestamp: string;
}

export async function runSessionless(command: string, options: ExecOptions & { workspace: string }): Promise<RawExecResult> {
	const started = Date.now();
	const cwd = options.cwd ?? options.workspace;
	// Spawning in a missing directory fails with a confusing "spawn /bin/bash ENOENT"; say what is missing.
	if (!(await isDirectory(cwd))) throw new Error(`Working directory does not exist: ${cwd}`);
	const child = spawnInOwnGroup(command, { cwd, env: { ...process.env, ...options.env } });
	const stdout = new HeadBuffer(EXEC_OUTPUT_LIMIT);
	const stderr = new HeadBuffer(EXEC_OUTPUT_LIMIT);
	child.stdout!.on('data', (chunk: Buffer) => stdout.append(chunk));
	child.stderr!.on('data', (chunk: Buffer) => stderr.append(chunk));

	let timedOut = false;
	const timer =
		options.timeoutMs === undefined
			? undefined
			: setTimeout(() => {
					timedOut = true;
					if (child.pid !== undefined) void terminateGroup(child.pid);
				}, options.timeoutMs);
	try {
		const exitCode = await waitForExit(child);
		if (!timedOut) return { command, stdout: stdout.toString(), stderr: stderr.toString(), exitCode, duration: Date.now() - started, timestamp: new Date(started).toISOString() };
		return {
			command,
			stdout: stdout.toString(),
			stderr: appendLine(stderr.toString(), `Command timed out after ${options.timeoutMs}ms`),
			exitCode: TIMEOUT_EXIT_CODE,
			duration: Date.now() - started,
			timestamp: new Date(started).toISOString()
		};
	} finally {
		clearTimeout(timer);
	}
}

/**
 * Resolves with the shell's exit code once its output is read. A background child it left
 * (`server &`) may hold the pipes open for ever: after the shell exits, the output gets a moment
 * to drain, then the pipes are read on (and dropped) so that the child never gets SIGPIPE.
 */
export function waitForExit(child: ReturnType<typeof spawnInOwnGroup>): Promise<number> {
	return new Promise((resolve, reject) => {
		child.once('error', reject);
		child.once('exit', (code, signal) => {
			const exitCode = exitCodeOf(code, signal);
			const drained = setTimeout(() => {
				for (const stream of [child.stdout, child.stderr]) stream?.removeAllListeners('data').resume();
				resolve(exitCode);
			}, OUTPUT_DRAIN_MS);
			child.once('close', () => {
				clearTimeout(drained);
				resolve(exitCode);
			});
		});
	});
}

export async function isDirectory(path: string): Promise<boolean> {
	return stat(path).then((s) => s.isDirectory(), () => false);
}

function appendLine(text: string, line: string): string {
	if (text === '') return line;
	return text.endsWith('\n') ? `${text}${line}` : `${text}\n${line}`;
}
