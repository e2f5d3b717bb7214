/**
 * The sandbox interface (types.ts) over @cloudflare/sandbox: a Durable Object per sandbox ID, each
 * with its container. Only code that runs in workerd imports this (the coordinator): the SDK
 * imports `cloudflare:workers`, which Node lacks.
 *
 * Every call has a deadline: a container that hangs must not hold a boot, a save or a page.
 */
import { getSandbox } from '@cloudflare/sandbox';
import type * as SDK from '@cloudflare/sandbox';
import { translateError } from './errors';
import { SandboxError, type ProcessInfo, type ProcessStatus, type Sandbox, type SandboxProcess } from './types';

/** The `Sandbox` Durable Object namespace; proxyToSandbox() requires exactly this binding name. */
export type SandboxNamespace = Parameters<typeof getSandbox>[0];

/** A call's deadline beyond its own timeout (an exec's, a waitForPort's), and for calls without one. */
const CALL_DEADLINE_MS = 15_000;

/** A backup or a restore: an archive to make or extract, and carry through the Durable Object. */
const BACKUP_DEADLINE_MS = 60_000;

/** Runs an SDK call with its errors translated, failing it with EXEC_TIMEOUT past `deadlineMs`. */
async function translated<T>(work: () => Promise<T>, deadlineMs = CALL_DEADLINE_MS): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() => reject(new SandboxError('EXEC_TIMEOUT', `the sandbox did not answer within ${deadlineMs / 1000} s`, { retryable: true })),
			deadlineMs
		);
	});
	try {
		return await Promise.race([work(), deadline]);
	} catch (error) {
		throw translateError(error);
	} finally {
		clearTimeout(timer);
	}
}

const STATUS: Record<string, ProcessStatus> = {
	starting: 'running',
	running: 'running',
	completed: 'completed',
	failed: 'failed',
	killed: 'killed',
	error: 'error'
};

function processInfo(process: SDK.Process): ProcessInfo {
	return {
		id: process.id,
		pid: process.pid ?? null,
		command: process.command,
		status: STATUS[process.status] ?? 'error',
		exitCode: process.exitCode ?? null,
		startTime: new Date(process.startTime).toISOString(),
		endTime: process.endTime ? new Date(process.endTime).toISOString() : null
	};
}

function processHandle(process: SDK.Process): SandboxProcess {
	return {
		...processInfo(process),
		getStatus: () => translated(async () => STATUS[await process.getStatus()] ?? 'error'),
		getLogs: () => translated(async () => {
			const { stdout, stderr } = await process.getLogs();
			return { stdout, stderr };
		}),
		kill: (signal) => translated(() => process.kill(signal)),
		waitForPort: (port, options) =>
			translated(() => process.waitForPort(port, options), (options?.timeout ?? CALL_DEADLINE_MS) + CALL_DEADLINE_MS)
	};
}

/**
 * The SDK answers a request that reached no server in the container (nothing listening on that
 * address, or the connection lost) with a plain-text 500 of its own wording: an error here, so
 * that it is never taken for the app's answer.
 */
async function unlessUnreachable(response: Response, port: number): Promise<Response> {
	const text = await unreachableText(response);
	if (text === null) return response;
	throw new SandboxError('PORT_UNREACHABLE', `nothing answers on port ${port} at the container's address: ${text}`, { retryable: true });
}

/**
 * The SDK's wording when a request reached no server in the sandbox (its routing failed, nothing
 * listens on the port, or the container dropped the connection), or null for any other answer: an
 * app's own 500 is the app's.
 */
export async function unreachableText(response: Response): Promise<string | null> {
	if (response.status !== 500 || !response.headers.get('content-type')?.startsWith('text/plain') || !response.body) return null;
	// Its first bytes tell (an app's own plain-text 500 may be long, or still streaming).
	const reader = response.clone().body!.getReader();
	const first = await reader.read();
	reader.cancel().catch(() => {});
	const text = first.done ? '' : new TextDecoder().decode(first.value);
	return /^(Proxy routing error|Error proxying request to container|Container suddenly disconnected)/.test(text) ? text : null;
}

export interface SandboxOptions {
	/** Idle time before the SDK stops the container: its own safety net (seconds). */
	sleepAfter: number;
}

export function openSandbox(namespace: SandboxNamespace, id: string, { sleepAfter }: SandboxOptions): Sandbox {
	// normalizeId: preview hostnames are lowercase, so the Durable Object key must be too.
	// enableDefaultSession: false — every command in a process of its own, killed at its timeout. In
	// the SDK's default session (one shell for all), a timed-out command keeps running and every
	// later command waits behind it (tests/conformance shows both).
	const sandbox = getSandbox(namespace, id, { normalizeId: true, sleepAfter, enableDefaultSession: false });
	return {
		id: id.toLowerCase(),
		exec: (command, execOptions) =>
			translated(async () => {
				const { success, exitCode, stdout, stderr, duration } = await sandbox.exec(command, execOptions);
				return { success, exitCode, stdout, stderr, duration };
			}, (execOptions?.timeout ?? CALL_DEADLINE_MS) + CALL_DEADLINE_MS),
		writeFile: (path, content, fileOptions) =>
			translated(async () => {
				await sandbox.writeFile(path, content, fileOptions);
			}),
		readFile: (path, fileOptions) => translated(async () => ({ content: (await sandbox.readFile(path, fileOptions)).content })),
		startProcess: (command, processOptions) => translated(async () => processHandle(await sandbox.startProcess(command, processOptions))),
		getProcess: (processId) =>
			translated(async () => {
				const process = await sandbox.getProcess(processId);
				return process && processHandle(process);
			}),
		streamProcessLogs: (processId) => translated(() => sandbox.streamProcessLogs(processId)),
		exposePort: (port, { hostname, token }) =>
			translated(async () => {
				const { url } = await sandbox.exposePort(port, { hostname, token });
				return { url, port };
			}),
		getExposedPorts: (hostname) =>
			translated(async () => (await sandbox.getExposedPorts(hostname)).map(({ url, port }) => ({ url, port, status: 'active' as const }))),
		// The deadline is the answer's head: its body may stream for as long as the caller reads it.
		containerFetch: (request, port) => translated(async () => unlessUnreachable(await sandbox.containerFetch(request, port), port)),
		openTerminal: (sessionId, { cwd, cols, rows }) =>
			translated(async () => {
				const session = await sandbox.createSession({ id: sessionId, cwd });
				try {
					// terminal() takes the browser's upgrade request; this one is the coordinator's own.
					const upgrade = new Request('http://localhost/ws/pty', { headers: { upgrade: 'websocket' } });
					const response = await session.terminal(upgrade, { cols, rows });
					if (!response.webSocket) throw new SandboxError('INTERNAL', `the container refused the terminal: ${response.status} ${await response.text()}`);
					return response.webSocket;
				} catch (error) {
					await sandbox.deleteSession(sessionId).catch(() => {}); // no terminal: no session either
					throw error;
				}
			}),
		deleteSession: (sessionId) =>
			translated(async () => {
				await sandbox.deleteSession(sessionId);
			}),
		// Through the Durable Object and the R2 binding itself (`localBucket`): no R2 credentials, and the
		// same path on Cloudflare and on this machine. Archives of an app's sources are small.
		createBackup: ({ dir, excludes, ttlSeconds }) =>
			translated(async () => {
				const { id, dir: archived, localBucket } = await sandbox.createBackup({ dir, excludes, ttl: ttlSeconds, localBucket: true });
				return { id, dir: archived, localBucket };
			}, BACKUP_DEADLINE_MS),
		restoreBackup: (backup) =>
			translated(async () => {
				await sandbox.restoreBackup(backup);
			}, BACKUP_DEADLINE_MS),
		destroy: () => translated(() => sandbox.destroy())
	};
}
