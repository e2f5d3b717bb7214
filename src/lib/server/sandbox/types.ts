/**
 * The one sandbox interface the app is written against.
 *
 * It is the subset of the @cloudflare/sandbox `Sandbox` object that the app
 * uses, with the same names and shapes, and errors the app can act on
 * (cloudflare.ts adapts the SDK to it). Templates and the editor's file I/O
 * are written against it.
 */
import type { WorkerWebSocket } from 'cloudflare:workers';

export interface ExecOptions {
	cwd?: string;
	env?: Record<string, string>;
	/** Milliseconds before the command is killed and the call fails. */
	timeout?: number;
}

export interface ExecResult {
	success: boolean;
	exitCode: number;
	stdout: string;
	stderr: string;
	/** Milliseconds the command ran. */
	duration: number;
}

export type ProcessStatus = 'running' | 'completed' | 'failed' | 'killed' | 'error';

export interface ProcessInfo {
	id: string;
	pid: number | null;
	command: string;
	status: ProcessStatus;
	exitCode: number | null;
	startTime: string;
	endTime: string | null;
}

export interface ProcessLogs {
	stdout: string;
	stderr: string;
}

export interface WaitForPortOptions {
	/** `http` (default) waits for a response with an accepted status; `tcp` for a connection. */
	mode?: 'http' | 'tcp';
	path?: string;
	/** Accepted status, or range of statuses. Default 200-399. */
	status?: number | { min: number; max: number };
	/** Milliseconds before giving up. */
	timeout?: number;
	/** Milliseconds between checks. */
	interval?: number;
}

export interface SandboxProcess extends ProcessInfo {
	getStatus(): Promise<ProcessStatus>;
	getLogs(): Promise<ProcessLogs>;
	kill(signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT'): Promise<void>;
	/** Resolves once the process serves on `port`; rejects if it exits first or the timeout passes. */
	waitForPort(port: number, options?: WaitForPortOptions): Promise<void>;
}

export interface StartProcessOptions {
	/** Names the process. Starting a process whose ID is already running returns that process. */
	processId?: string;
	cwd?: string;
	env?: Record<string, string>;
}

export interface ExposedPort {
	url: string;
	port: number;
	status: 'active';
}

/** A backup of a directory, as the SDK's `createBackup` returns it: what `restoreBackup` takes back. */
export interface DirectoryBackup {
	id: string;
	dir: string;
	/** Kept in the BACKUP_BUCKET binding itself, not uploaded through presigned URLs. */
	localBucket?: boolean;
}

export interface Sandbox {
	readonly id: string;
	exec(command: string, options?: ExecOptions): Promise<ExecResult>;
	writeFile(path: string, content: string, options?: { encoding?: 'utf-8' | 'base64' }): Promise<void>;
	readFile(path: string, options?: { encoding?: 'utf-8' | 'base64' }): Promise<{ content: string }>;
	startProcess(command: string, options?: StartProcessOptions): Promise<SandboxProcess>;
	/**
	 * The process's output as Server-Sent Events: what it has written so far, then each write as it
	 * comes (`{ type: 'stdout' | 'stderr', data }`), then `{ type: 'exit', exitCode }`.
	 */
	streamProcessLogs(processId: string): Promise<ReadableStream<Uint8Array>>;
	/** The process with this ID, or null. */
	getProcess(processId: string): Promise<SandboxProcess | null>;
	/** Exposes `port` at a preview URL under `hostname` (the app's request host, with its port). */
	exposePort(port: number, options: { hostname: string; token?: string }): Promise<{ url: string; port: number }>;
	getExposedPorts(hostname: string): Promise<ExposedPort[]>;
	/**
	 * Sends an HTTP request to `port` inside the sandbox, as a preview request arrives there (at the
	 * container's own address, not its loopback); the URL's host does not matter. Nothing answering
	 * there is a PORT_UNREACHABLE error, not a response.
	 */
	containerFetch(request: Request, port: number): Promise<Response>;
	/**
	 * A shell on a pseudo-terminal, in a session of its own named `sessionId`: a WebSocket, not yet
	 * accepted, that speaks the SDK's terminal protocol (output and keystrokes as binary frames,
	 * `{ type: 'resize', cols, rows }` from the client, `ready` / `exit` / `error` to it).
	 */
	openTerminal(sessionId: string, options: { cwd: string; cols: number; rows: number }): Promise<WorkerWebSocket>;
	/** Ends a session: its shell, its terminal, and what runs in them. */
	deleteSession(sessionId: string): Promise<void>;
	/**
	 * Archives `dir` (without what `excludes` names, at any depth) into the BACKUP_BUCKET R2 binding,
	 * kept for `ttlSeconds`.
	 */
	createBackup(options: { dir: string; excludes: string[]; ttlSeconds: number }): Promise<DirectoryBackup>;
	/** Extracts a backup over its directory: its files come back, files made since stay. */
	restoreBackup(backup: DirectoryBackup): Promise<void>;
	/** Stops every process and frees the sandbox's ports and files. */
	destroy(): Promise<void>;
}

/** Error codes the app can act on. */
export type SandboxErrorCode =
	| 'CAPACITY_EXCEEDED'
	| 'FILE_NOT_FOUND'
	| 'PROCESS_EXITED_BEFORE_READY'
	| 'PROCESS_READY_TIMEOUT'
	| 'EXEC_TIMEOUT'
	| 'TOKEN_IN_USE'
	| 'PORT_UNREACHABLE'
	/** The app listens on loopback only; the message is where (`127.0.0.1:8080`). */
	| 'LOOPBACK_ONLY'
	| 'BACKEND_UNAVAILABLE'
	| 'INTERNAL';

export class SandboxError extends Error {
	readonly code: SandboxErrorCode;
	/** True when the same call may succeed later (e.g. capacity frees up). */
	readonly retryable: boolean;

	constructor(code: SandboxErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
		super(message, { cause: options.cause });
		this.name = 'SandboxError';
		this.code = code;
		this.retryable = options.retryable ?? false;
	}
}
