/**
 * The agent: runs inside every local sandbox (as the container's control
 * server does in a Cloudflare sandbox) and carries out the runtime's requests
 * there — commands, background processes, files, port checks. Because it works
 * in the sandbox's own view of the filesystem, a symlink can only ever lead to
 * what the sandbox itself can see.
 *
 * It speaks the line protocol of agent-protocol.ts on stdin/stdout. When the
 * runtime goes away, the sandbox's PID namespace goes with it, so the agent
 * never needs to clean up after itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { AGENT_READY, WRITABLE_ROOTS } from './agent-protocol.ts';
import { TailBuffer } from './control/output-buffers.ts';
import { waitForExit } from './control/sessionless.ts';
import type { AgentOperations, AgentRequest, AgentResponse, ProcessInfo } from './agent-protocol.ts';

const EXEC_OUTPUT_LIMIT = 8 * 1024 * 1024;
const PROCESS_LOG_LIMIT = 256 * 1024;
const SHELL = '/bin/bash';
/** How long a killed process has to exit before its group gets SIGKILL. */
const KILL_GRACE_MS = 3000;

class AgentError extends Error {
	readonly code: string;
	constructor(code: string, message: string) {
		super(message);
		this.code = code;
	}
}

interface TrackedProcess {
	info: ProcessInfo;
	child: ChildProcess;
	stdout: TailBuffer;
	stderr: TailBuffer;
	exited: Promise<void>;
	/** Set by killProcess: the process ends as 'killed', however it exits. */
	killRequested: boolean;
}

const processes = new Map<string, TrackedProcess>();

function spawnShell(command: string, options: { cwd?: string; env?: Record<string, string> }) {
	// detached: every command leads its own process group, so a timeout or kill
	// reaches the whole tree it started (npm → node → …), not just the shell.
	return spawn(SHELL, ['-c', command], {
		cwd: options.cwd ?? '/workspace',
		env: { ...process.env, ...options.env },
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe']
	});
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
	if (child.pid === undefined) return;
	try {
		process.kill(-child.pid, signal);
	} catch {
		// The group is already gone.
	}
}

/** Refuses a working directory that does not exist, rather than failing as a puzzling "spawn ENOENT". */
async function requireDirectory(cwd: string | undefined) {
	if (cwd === undefined) return;
	const isDirectory = await stat(cwd).then((s) => s.isDirectory(), () => false);
	if (!isDirectory) throw new AgentError('INVALID_REQUEST', `The working directory ${cwd} does not exist`);
}

async function exec({ command, cwd, env, timeout }: AgentOperations['exec']) {
	await requireDirectory(cwd);
	const started = Date.now();
	const child = spawnShell(command, { cwd, env });
	const output = { stdout: '', stderr: '' };
	for (const stream of ['stdout', 'stderr'] as const) {
		child[stream]!.setEncoding('utf8');
		child[stream]!.on('data', (chunk: string) => {
			if (output[stream].length < EXEC_OUTPUT_LIMIT) output[stream] += chunk;
		});
	}
	let timedOut = false;
	const timer = timeout === undefined ? undefined : setTimeout(() => {
		timedOut = true;
		killGroup(child, 'SIGKILL');
	}, timeout);
	// Done when its shell exits; a background child it left (`server &`) keeps its pipes (see waitForExit).
	const exitCode = await waitForExit(child).finally(() => clearTimeout(timer));
	if (timedOut) {
		throw new AgentError('EXEC_TIMEOUT', `Command timed out after ${timeout} ms: ${command}`);
	}
	return { success: exitCode === 0, exitCode, ...output, duration: Date.now() - started };
}

function signalNumber(signal: NodeJS.Signals): number {
	return { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal as string] ?? 1;
}

async function startProcess({ command, processId, cwd, env }: AgentOperations['startProcess']): Promise<ProcessInfo> {
	const existing = processes.get(processId);
	if (existing?.info.status === 'running') return existing.info;
	await requireDirectory(cwd);

	const child = spawnShell(command, { cwd, env });
	const info: ProcessInfo = {
		id: processId,
		pid: child.pid ?? null,
		command,
		status: 'running',
		exitCode: null,
		startTime: new Date().toISOString(),
		endTime: null
	};
	const tracked: TrackedProcess = {
		info,
		child,
		stdout: new TailBuffer(PROCESS_LOG_LIMIT),
		stderr: new TailBuffer(PROCESS_LOG_LIMIT),
		exited: new Promise((resolve) => {
			child.on('close', (code, signal) => {
				if (info.status === 'running') {
					info.status = tracked.killRequested || signal ? 'killed' : code === 0 ? 'completed' : 'failed';
				}
				info.exitCode = code ?? (signal ? 128 + signalNumber(signal) : null);
				info.endTime = new Date().toISOString();
				resolve();
			});
			child.on('error', (error) => {
				info.status = 'error';
				tracked.stderr.append(`${error.message}\n`);
				info.endTime = new Date().toISOString();
				resolve();
			});
		}),
		killRequested: false
	};
	for (const stream of ['stdout', 'stderr'] as const) {
		child[stream]!.setEncoding('utf8');
		child[stream]!.on('data', (chunk: string) => tracked[stream].append(chunk));
	}
	processes.set(processId, tracked);
	return info;
}

function trackedProcess(processId: string): TrackedProcess {
	const tracked = processes.get(processId);
	if (!tracked) throw new AgentError('PROCESS_NOT_FOUND', `No process with ID "${processId}"`);
	return tracked;
}

async function killProcess({ processId, signal }: AgentOperations['killProcess']) {
	const tracked = trackedProcess(processId);
	if (tracked.info.status !== 'running') return tracked.info;
	tracked.killRequested = true;
	killGroup(tracked.child, signal);
	// A process that ignores the signal gets SIGKILL after a grace period, so a kill always ends.
	let grace: ReturnType<typeof setTimeout> | undefined;
	const escalated = new Promise<void>((resolve) => {
		grace = setTimeout(() => {
			killGroup(tracked.child, 'SIGKILL');
			resolve();
		}, KILL_GRACE_MS);
	});
	await Promise.race([tracked.exited, escalated]);
	clearTimeout(grace);
	await tracked.exited;
	return tracked.info;
}

function logsOf(tracked: TrackedProcess) {
	return { stdout: tracked.stdout.toString(), stderr: tracked.stderr.toString() };
}

async function waitForPort(args: AgentOperations['waitForPort']) {
	const { port, processId, mode = 'http', path = '/', timeout, interval = 500 } = args;
	const status = args.status ?? { min: 200, max: 399 };
	const [min, max] = typeof status === 'number' ? [status, status] : [status.min, status.max];
	const tracked = processId === undefined ? undefined : trackedProcess(processId);
	const deadline = timeout === undefined ? Infinity : Date.now() + timeout;

	for (;;) {
		if (tracked && tracked.info.status !== 'running') {
			const { stderr, stdout } = logsOf(tracked);
			throw new AgentError(
				'PROCESS_EXITED_BEFORE_READY',
				`Process "${tracked.info.id}" exited with code ${tracked.info.exitCode} before port ${port} was ready.\n` +
					(stderr || stdout).slice(-2000)
			);
		}
		if (await portIsReady(port, mode, path, min, max)) return;
		if (Date.now() + interval > deadline) {
			throw new AgentError('PROCESS_READY_TIMEOUT', `Port ${port} was not ready within ${timeout} ms`);
		}
		await new Promise((resolve) => setTimeout(resolve, interval));
	}
}

async function portIsReady(port: number, mode: 'http' | 'tcp', path: string, min: number, max: number) {
	if (mode === 'tcp') {
		return new Promise<boolean>((resolve) => {
			const socket = connect({ host: '127.0.0.1', port }, () => {
				socket.destroy();
				resolve(true);
			});
			socket.on('error', () => resolve(false));
		});
	}
	try {
		const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
		await response.body?.cancel();
		return response.status >= min && response.status <= max;
	} catch {
		return false;
	}
}

/**
 * Confines a file operation to the sandbox's writable roots, after resolving
 * symlinks: `/workspace/link -> /etc` is refused just like `/etc` itself.
 * Paths reaching here are already absolute and free of `..` (the runtime checks).
 */
async function confined(path: string): Promise<string> {
	let existing = path;
	let rest = '';
	for (;;) {
		try {
			const real = await realpath(existing);
			const resolved = rest ? posix.join(real, rest) : real;
			if (!WRITABLE_ROOTS.some((root) => resolved === root || resolved.startsWith(`${root}/`))) {
				throw new AgentError('PATH_NOT_ALLOWED', `${path} resolves outside ${WRITABLE_ROOTS.join(' and ')}`);
			}
			return resolved;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existing === '/') throw error;
			rest = rest ? posix.join(posix.basename(existing), rest) : posix.basename(existing);
			existing = dirname(existing);
		}
	}
}

function fileError(error: unknown, path: string): never {
	const code = (error as NodeJS.ErrnoException).code;
	if (code === 'ENOENT') throw new AgentError('FILE_NOT_FOUND', `No such file or directory: ${path}`);
	if (code === 'EISDIR') throw new AgentError('INVALID_REQUEST', `${path} is a directory`);
	if (code === 'ENOTDIR') throw new AgentError('INVALID_REQUEST', `A parent of ${path} is not a directory`);
	if (code === 'ENOSPC') throw new AgentError('NO_SPACE', `The sandbox's disk is full: ${path} was not written`);
	throw error;
}

const operations: { [Op in keyof AgentOperations]: (args: AgentOperations[Op]) => unknown } = {
	exec,
	async writeFile({ path, content, encoding }) {
		const target = await confined(path);
		await writeFile(target, Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8')).catch((e) =>
			fileError(e, path)
		);
		return {};
	},
	async readFile({ path, encoding }) {
		const target = await confined(path);
		const bytes = await readFile(target).catch((e) => fileError(e, path));
		return { content: bytes.toString(encoding === 'base64' ? 'base64' : 'utf8') };
	},
	async mkdir({ path, recursive }) {
		const target = await confined(path);
		await mkdir(target, { recursive }).catch((e) => fileError(e, path));
		return {};
	},
	startProcess,
	getProcess: ({ processId }) => processes.get(processId)?.info ?? null,
	listProcesses: () => [...processes.values()].map((tracked) => tracked.info),
	killProcess,
	getProcessLogs: ({ processId }) => logsOf(trackedProcess(processId)),
	waitForPort: async (args) => {
		await waitForPort(args);
		return {};
	}
};

function reply(response: AgentResponse) {
	process.stdout.write(`${JSON.stringify(response)}\n`);
}

async function handle(line: string) {
	let request: AgentRequest;
	try {
		request = JSON.parse(line) as AgentRequest;
	} catch {
		return; // The runtime only sends JSON lines; anything else is ignored.
	}
	try {
		const run = operations[request.op] as (args: unknown) => unknown;
		reply({ id: request.id, ok: true, result: await run(request.args) });
	} catch (error) {
		const code = error instanceof AgentError ? error.code : 'INTERNAL';
		const message = error instanceof Error ? error.message : String(error);
		reply({ id: request.id, ok: false, error: { code, message } });
	}
}

createInterface({ input: process.stdin }).on('line', (line) => void handle(line));
// The runtime closing our stdin means it is gone: end the sandbox with it.
process.stdin.on('end', () => process.exit(0));
process.stdout.write(`${AGENT_READY}\n`);
