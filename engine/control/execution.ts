/**
 * Where a call runs: in a session (its shell, its queue) or sessionless (a fresh process each
 * time). Every operation that names a `sessionId` — exec, files, processes — goes through here,
 * so that session calls queue behind each other exactly like the real server's, and failures of
 * the session itself are reported the same way whatever the operation.
 */
import { posix } from 'node:path';
import type { Environment } from './process-groups.ts';
import { ErrorCode, ProtocolError, errorMessage } from './errors.ts';
import { terminated, type SessionRegistry } from './sessions.ts';
import { SessionDestroyedError, ShellTerminatedError, type ShellSession } from './shell-session.ts';
import { SESSIONLESS_ID, isDirectory, runSessionless, type ExecOptions, type RawExecResult } from './sessionless.ts';

/** The session a call without a `sessionId` runs in (the SDK always names one; direct callers may not). */
const DEFAULT_SESSION_ID = 'default';

export type RunCommand = (command: string, options?: ExecOptions) => Promise<RawExecResult>;

/** Where a process starts: the directory and environment it inherits. */
export interface ProcessOrigin {
	cwd: string;
	env: Environment;
	sessionId: string;
	/** Set when the start cannot happen (the directory is missing): the process fails at once with this on stderr. */
	startError?: string;
}

export interface Execution {
	/** The session's ID, or `__DISABLE_SESSION__`. */
	readonly sessionId: string;
	/** One command, with errors in the protocol's terms. */
	exec(command: string, options?: ExecOptions): Promise<RawExecResult>;
	/** Several steps that must not interleave with the session's other calls (file operations). */
	withLock<T>(steps: (run: RunCommand) => Promise<T>): Promise<T>;
	/** The directory and environment a background process started now would inherit. */
	processOrigin(options: { cwd?: string; env?: Record<string, string> }): Promise<ProcessOrigin>;
}

export class Executions {
	private readonly sessions: SessionRegistry;
	private readonly workspace: string;

	constructor(sessions: SessionRegistry, workspace: string) {
		this.sessions = sessions;
		this.workspace = workspace;
	}

	/** `implicit` applies when the call creates its session (see SessionRegistry.acquire). */
	resolve(sessionId: string | undefined, implicit: { cwd?: string; commandTimeoutMs?: number } = {}): Execution {
		if (sessionId !== undefined && sessionId !== '' && sessionId.trim() === '') {
			throw new ProtocolError(ErrorCode.VALIDATION_FAILED, 'sessionId must not be empty or whitespace', {
				validationErrors: [{ field: 'sessionId', message: 'must not be empty or whitespace', code: 'INVALID_SESSION_ID' }]
			});
		}
		if (sessionId === SESSIONLESS_ID) return new SessionlessExecution(this.workspace);
		return new SessionExecution(this.sessions, sessionId || DEFAULT_SESSION_ID, implicit);
	}
}

class SessionExecution implements Execution {
	readonly sessionId: string;
	private readonly sessions: SessionRegistry;
	private readonly implicit: { cwd?: string; commandTimeoutMs?: number };

	constructor(sessions: SessionRegistry, sessionId: string, implicit: { cwd?: string; commandTimeoutMs?: number }) {
		this.sessions = sessions;
		this.sessionId = sessionId;
		this.implicit = implicit;
	}

	async exec(command: string, options: ExecOptions = {}): Promise<RawExecResult> {
		return this.locked(
			(session) => session.exec(command, options),
			(message) =>
				new ProtocolError(ErrorCode.COMMAND_EXECUTION_ERROR, `Failed to execute command '${command}' in session '${this.sessionId}': ${message}`, {
					command,
					stderr: message
				})
		);
	}

	withLock<T>(steps: (run: RunCommand) => Promise<T>): Promise<T> {
		return this.locked(
			(session) => steps((command, options) => session.exec(command, options)),
			(message) =>
				new ProtocolError(ErrorCode.INTERNAL_ERROR, `withSession callback failed for session '${this.sessionId}': ${message}`, {
					sessionId: this.sessionId,
					originalError: message
				})
		);
	}

	async processOrigin(options: { cwd?: string; env?: Record<string, string> }): Promise<ProcessOrigin> {
		// The process starts as if the shell had started it: in its directory, with its exported variables.
		const state = await this.locked(
			(session) => session.state(),
			(message) =>
				new ProtocolError(ErrorCode.STREAM_START_ERROR, `Failed to start process in session '${this.sessionId}': ${message}`, {
					stderr: message
				})
		);
		const cwd = options.cwd === undefined ? state.cwd : posix.resolve(state.cwd, options.cwd);
		const origin: ProcessOrigin = { cwd, env: { ...state.env, ...options.env }, sessionId: this.sessionId };
		if (!(await isDirectory(cwd))) origin.startError = `Failed to change directory to '${options.cwd}'`;
		return origin;
	}

	/**
	 * Runs `task` under the session's lock. The shell dying or the session being deleted meanwhile
	 * are the session's own errors; anything else is the operation's (`failure` words it).
	 */
	private async locked<T>(task: (session: ShellSession) => Promise<T>, failure: (message: string) => ProtocolError): Promise<T> {
		const session = await this.sessions.acquire(this.sessionId, this.implicit);
		try {
			return await session.withLock(() => task(session));
		} catch (error) {
			if (error instanceof ProtocolError) throw error;
			if (error instanceof ShellTerminatedError) {
				await this.sessions.discardIfDead(this.sessionId);
				throw terminated(this.sessionId, error.exitCode);
			}
			if (error instanceof SessionDestroyedError) {
				throw new ProtocolError(ErrorCode.SESSION_DESTROYED, error.message, { sessionId: this.sessionId });
			}
			throw failure(errorMessage(error));
		}
	}
}

class SessionlessExecution implements Execution {
	readonly sessionId = SESSIONLESS_ID;
	private readonly workspace: string;

	constructor(workspace: string) {
		this.workspace = workspace;
	}

	async exec(command: string, options: ExecOptions = {}): Promise<RawExecResult> {
		try {
			return await runSessionless(command, { ...options, workspace: this.workspace });
		} catch (error) {
			const message = errorMessage(error);
			throw new ProtocolError(ErrorCode.COMMAND_EXECUTION_ERROR, `Failed to execute command '${command}' in sessionless execution: ${message}`, {
				command,
				stderr: message
			});
		}
	}

	async withLock<T>(steps: (run: RunCommand) => Promise<T>): Promise<T> {
		try {
			return await steps((command, options) => runSessionless(command, { ...options, workspace: this.workspace }));
		} catch (error) {
			if (error instanceof ProtocolError) throw error;
			const message = errorMessage(error);
			throw new ProtocolError(ErrorCode.INTERNAL_ERROR, `withExecution callback failed for sessionless execution: ${message}`, {
				sessionId: SESSIONLESS_ID,
				originalError: message
			});
		}
	}

	async processOrigin(options: { cwd?: string; env?: Record<string, string> }): Promise<ProcessOrigin> {
		const cwd = options.cwd ?? this.workspace;
		if (!(await isDirectory(cwd))) throw new Error(`Working directory does not exist: ${cwd}`);
		return { cwd, env: { ...process.env, ...options.env }, sessionId: SESSIONLESS_ID };
	}
}
