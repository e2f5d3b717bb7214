/**
 * Background processes (`startProcess`, and the streamed exec that the real server also runs as a
 * process): each is `bash -c <command>` leading its own process group, started where its session
 * stands (see Execution.processOrigin), with its output kept — bounded — for `getLogs` and
 * streamed to whoever listens.
 *
 * Records are sandbox-wide, keyed by process ID. As on the real server, starting a process with an
 * ID that is already taken is accepted: the new record replaces the old one (whose process runs
 * on, no longer reachable by ID) — so a second start of a server usually shows as "failed" (its
 * port is busy), and `waitForPort` on it reports `process_exited` at once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { ErrorCode, ProtocolError } from './errors.ts';
import type { ProcessOrigin } from './execution.ts';
import { PROCESS_LOG_LIMIT, TailBuffer } from './output-buffers.ts';
import { LineCutter } from './output-lines.ts';
import { exitCodeOf, signalGroup, spawnInOwnGroup, terminateGroup } from './process-groups.ts';
import { OUTPUT_DRAIN_MS } from './sessionless.ts';

export type ProcessStatus = 'starting' | 'running' | 'completed' | 'failed' | 'killed' | 'error';

const FINISHED: ReadonlySet<ProcessStatus> = new Set(['completed', 'failed', 'killed', 'error']);
/** How many finished records stay listed (each keeps its logs); the oldest are forgotten first. */
const MAX_FINISHED_RECORDS = 100;
const TIMEOUT_EXIT_CODE = 124;

export type ProcessEvent = { type: 'stdout' | 'stderr'; data: string } | { type: 'exit'; status: ProcessStatus; exitCode: number | undefined };

export class TrackedProcess {
	readonly id: string;
	readonly command: string;
	readonly sessionId: string;
	readonly startTime = new Date();
	pid: number | undefined;
	status: ProcessStatus = 'running';
	exitCode: number | undefined;
	endTime: Date | undefined;
	readonly stdout = new TailBuffer(PROCESS_LOG_LIMIT);
	readonly stderr = new TailBuffer(PROCESS_LOG_LIMIT);
	/** Resolves once the process has exited and its output has been read. */
	readonly finished: Promise<void>;
	private markFinished!: () => void;
	private readonly listeners = new Set<(event: ProcessEvent) => void>();
	private readonly lines = { stdout: this.cutter('stdout'), stderr: this.cutter('stderr') };
	child: ChildProcess | undefined;
	killRequested = false;

	constructor(id: string, command: string, sessionId: string) {
		this.id = id;
		this.command = command;
		this.sessionId = sessionId;
		this.finished = new Promise((resolve) => (this.markFinished = resolve));
	}

	get isFinished() {
		return FINISHED.has(this.status);
	}

	/** Has the process exited, even if its last output is still being read? */
	get hasExited() {
		return this.isFinished || (this.child !== undefined && (this.child.exitCode !== null || this.child.signalCode !== null));
	}

	/** Registers for output and exit events; returns the way to unregister. */
	subscribe(listener: (event: ProcessEvent) => void): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}

	/** Output of the process, told and kept line by line (output-lines.ts). */
	output(stream: 'stdout' | 'stderr', data: string) {
		if (data !== '') this.lines[stream].write(data);
	}

	private cutter(stream: 'stdout' | 'stderr') {
		return new LineCutter((line) => {
			this[stream].append(line);
			for (const listener of this.listeners) listener({ type: stream, data: line });
		});
	}

	finish(status: ProcessStatus, exitCode: number | undefined) {
		if (this.isFinished) return;
		this.lines.stdout.flush();
		this.lines.stderr.flush();
		this.status = status;
		this.exitCode = exitCode;
		this.endTime = new Date();
		for (const listener of [...this.listeners]) listener({ type: 'exit', status, exitCode });
		this.listeners.clear();
		this.markFinished();
	}

	/** The process as `getProcess` answers it (startTime/endTime as ISO strings; absent values left out). */
	info() {
		return {
			id: this.id,
			pid: this.pid,
			command: this.command,
			status: this.status,
			startTime: this.startTime.toISOString(),
			endTime: this.endTime?.toISOString(),
			exitCode: this.exitCode
		};
	}
}

export class ProcessTable {
	private readonly processes = new Map<string, TrackedProcess>();
	/** Every process still running, including those whose ID a later start took over. */
	private readonly live = new Set<TrackedProcess>();

	start(command: string, options: { processId?: string; origin: ProcessOrigin; timeoutMs?: number }): TrackedProcess {
		if (command.trim() === '') {
			throw new ProtocolError(ErrorCode.INVALID_COMMAND, 'Invalid command: empty command provided', { command });
		}
		const tracked = new TrackedProcess(options.processId ?? newProcessId(), command, options.origin.sessionId);
		// Re-inserted, not overwritten in place: the map's order is the records' age (see forgetOldFinished).
		this.processes.delete(tracked.id);
		this.processes.set(tracked.id, tracked);
		if (options.origin.startError !== undefined) {
			// The real server reports a missing cwd on the process's stderr, not as a failed call.
			tracked.output('stderr', `${options.origin.startError}\n`);
			this.settle(tracked, 'failed', 1);
			return tracked;
		}

		const child = spawnInOwnGroup(command, { cwd: options.origin.cwd, env: options.origin.env });
		tracked.child = child;
		tracked.pid = child.pid;
		this.live.add(tracked);
		for (const stream of ['stdout', 'stderr'] as const) {
			const decoder = new StringDecoder('utf8');
			child[stream]!.on('data', (chunk: Buffer) => tracked.output(stream, decoder.write(chunk)));
		}

		let timedOut = false;
		const timer =
			options.timeoutMs === undefined || child.pid === undefined
				? undefined
				: setTimeout(() => {
						timedOut = true;
						void terminateGroup(child.pid!);
					}, options.timeoutMs);

		child.once('error', (error) => {
			clearTimeout(timer);
			tracked.output('stderr', `${error.message}\n`);
			this.settle(tracked, 'error', undefined);
		});
		child.once('exit', (code, signal) => {
			clearTimeout(timer);
			// A background child of the process may hold the pipes open: give the output a moment to
			// drain, then keep reading (and dropping) it so that the child never gets SIGPIPE.
			const done = () => {
				if (timedOut) {
					tracked.output('stderr', `Command timed out after ${options.timeoutMs}ms\n`);
					this.settle(tracked, interpretExitCode(TIMEOUT_EXIT_CODE), TIMEOUT_EXIT_CODE);
					return;
				}
				const exitCode = exitCodeOf(code, signal);
				this.settle(tracked, tracked.killRequested ? 'killed' : interpretExitCode(exitCode), exitCode);
			};
			const drained = setTimeout(() => {
				for (const stream of [child.stdout, child.stderr]) stream?.removeAllListeners('data').resume();
				done();
			}, OUTPUT_DRAIN_MS);
			child.once('close', () => {
				clearTimeout(drained);
				done();
			});
		});
		return tracked;
	}

	/** A record by ID; waits for a process that has just exited to be fully read, as the real server does. */
	async get(id: string): Promise<TrackedProcess> {
		const tracked = this.processes.get(id);
		if (!tracked) throw notFound(id);
		if (!tracked.isFinished && tracked.hasExited) await tracked.finished;
		return tracked;
	}

	/** The records, as the real server lists them: those still running first, oldest first; then the finished ones. */
	list(status?: ProcessStatus): TrackedProcess[] {
		const all = [...this.processes.values()];
		const ordered = [...all.filter((tracked) => !tracked.isFinished), ...all.filter((tracked) => tracked.isFinished)];
		return status === undefined ? ordered : ordered.filter((tracked) => tracked.status === status);
	}

	/** SIGTERM to the process's group, SIGKILL after the grace period; resolves when it has exited. */
	async kill(id: string): Promise<void> {
		const tracked = this.processes.get(id);
		if (!tracked) throw notFound(id);
		if (tracked.isFinished || tracked.pid === undefined) {
			throw new ProtocolError(ErrorCode.COMMAND_NOT_FOUND, `Command '${id}' not found or already completed in session '${tracked.sessionId}'`, {
				command: id
			});
		}
		tracked.killRequested = true;
		await terminateGroup(tracked.pid);
		await tracked.finished;
	}

	/** Kills every running process; resolves with how many were killed. */
	async killAll(): Promise<number> {
		const running = this.list('running');
		const results = await Promise.allSettled(running.map((tracked) => this.kill(tracked.id)));
		return results.filter((result) => result.status === 'fulfilled').length;
	}

	/** A deleted session takes its processes with it (SIGKILL, as the real server's session teardown). */
	async killSession(sessionId: string): Promise<void> {
		const doomed = [...this.live].filter((tracked) => tracked.sessionId === sessionId && tracked.pid !== undefined);
		for (const tracked of doomed) {
			tracked.killRequested = true;
			signalGroup(tracked.pid!, 'SIGKILL');
		}
		await Promise.all(doomed.map((tracked) => tracked.finished));
	}

	/** Synchronous last resort at server exit. */
	killAllNow() {
		for (const tracked of this.live) if (tracked.pid !== undefined) signalGroup(tracked.pid, 'SIGKILL');
	}

	private settle(tracked: TrackedProcess, status: ProcessStatus, exitCode: number | undefined) {
		tracked.finish(status, exitCode);
		this.live.delete(tracked);
		this.forgetOldFinished();
	}

	private forgetOldFinished() {
		const finished = [...this.processes.values()].filter((tracked) => tracked.isFinished);
		for (const tracked of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_RECORDS))) {
			this.processes.delete(tracked.id);
		}
	}
}

/** The real server's reading of an exit code: 137 and 143 (SIGKILL, SIGTERM) count as killed. */
function interpretExitCode(exitCode: number): ProcessStatus {
	if (exitCode === 0) return 'completed';
	if (exitCode === 137 || exitCode === 143) return 'killed';
	return 'failed';
}

function newProcessId(): string {
	return `proc_${Date.now()}_${randomBytes(3).toString('hex')}`;
}

function notFound(id: string): ProtocolError {
	return new ProtocolError(ErrorCode.PROCESS_NOT_FOUND, `Process ${id} not found`, { processId: id });
}
