/**
 * The sandbox interface (types.ts) over @cloudflare/sandbox: a Durable Object per sandbox ID, each
 * with its container. Only code that runs in workerd imports this (the coordinator): the SDK
 * imports `cloudflare:workers`, which Node lacks.
 *
 * Every call has a deadline: a container that hangs must not hold a boot, a save or a page.
 */
import { getSandbox } from '@cloudflare/sandbox';
import type * as SDK from '@cloudflare/sandbox';
import {
	SandboxError,
	type ProcessInfo,
	type ProcessStatus,
	type Sandbox,
	type SandboxErrorCode,
	type SandboxProcess
} from './types';

/** The `Sandbox` Durable Object namespace; proxyToSandbox() requires exactly this binding name. */
export type SandboxNamespace = Parameters<typeof getSandbox>[0];

/** A call's deadline beyond its own timeout (an exec's, a waitForPort's), and for calls without one. */
const CALL_DEADLINE_MS = 15_000;

/**
 * Errors lose their class and custom properties on their way back over the
 * Durable Object RPC boundary: only the message is reliable, so match on it.
 */
const ERROR_MESSAGES: [RegExp, SandboxErrorCode, boolean][] = [
	[/maximum number of running container instances|no container instance|max_instances/i, 'CAPACITY_EXCEEDED', true],
	[/container.*(unavailable|not (yet )?ready|is starting)|ContainerUnavailable|network connection lost/i, 'BACKEND_UNAVAILABLE', true],
	// The SDK's words: "Process exited with code N before becoming ready…".
	[/exited (with code -?\d+ )?before|ProcessExitedBeforeReady/i, 'PROCESS_EXITED_BEFORE_READY', false],
	[/command timeout after/i, 'EXEC_TIMEOUT', false],
	[/not ready within|did not become ready|ProcessReadyTimeout/i, 'PROCESS_READY_TIMEOUT', false],
	[/(file|directory) not found|no such file|ENOENT/i, 'FILE_NOT_FOUND', false],
	[/already in use by port/i, 'TOKEN_IN_USE', false]
];

export function translateError(error: unknown): SandboxError {
	if (error instanceof SandboxError) return error;
	const message = String((error as Error)?.message ?? error);
	const name = String((error as Error)?.name ?? '');
	for (const [pattern, code, retryable] of ERROR_MESSAGES) {
		if (pattern.test(message) || pattern.test(name)) return new SandboxError(code, message, { retryable, cause: error });
	}
	return new SandboxError('INTERNAL', message, { cause: error });
}

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
		mkdir: (path, mkdirOptions) =>
			translated(async () => {
				await sandbox.mkdir(path, mkdirOptions);
			}),
		startProcess: (command, processOptions) => translated(async () => processHandle(await sandbox.startProcess(command, processOptions))),
		getProcess: (processId) =>
			translated(async () => {
				const process = await sandbox.getProcess(processId);
				return process && processHandle(process);
			}),
		listProcesses: () => translated(async () => (await sandbox.listProcesses()).map(processInfo)),
		exposePort: (port, { hostname, token }) =>
			translated(async () => {
				const { url } = await sandbox.exposePort(port, { hostname, token });
				return { url, port };
			}),
		unexposePort: (port) => translated(() => sandbox.unexposePort(port)),
		getExposedPorts: (hostname) =>
			translated(async () => (await sandbox.getExposedPorts(hostname)).map(({ url, port }) => ({ url, port, status: 'active' as const }))),
		destroy: () => translated(() => sandbox.destroy())
	};
}
