/**
 * Why a running sandbox's preview is blank or broken, told from evidence rather than guessed: the
 * app's process ended (how, and what it wrote last), nothing listens on its port, it listens on
 * loopback only (previews arrive at the container's own address), or it answered with a server
 * error. The coordinator keeps what it finds in the sandbox's state (`problem`), which the page
 * shows above the preview, and the preview route shows in the iframe itself.
 */
import type { AppProblem } from '../sandbox-state';
import { recentLines } from './app-logs';
import { APP_PROCESS_ID } from './durable-objects/boot';
import { loopbackOnlyMessage, NotReady } from './durable-objects/boot-failures';
import { isLoopback, listenersOn, socketAddresses } from './sandbox/listeners';
import { SandboxError, type ProcessInfo, type Sandbox } from './sandbox/types';

/** How many of the app's last lines a problem shows. */
const EVIDENCE_LINES = 30;

/** What the app wrote last, with its secrets redacted (app-logs.ts). */
export async function lastLines(sandbox: Sandbox, secrets: string[]) {
	const lines = await recentLines(sandbox, secrets).catch(() => []);
	return lines.slice(-EVIDENCE_LINES);
}

/**
 * Looks inside the sandbox for why its app cannot be reached on `port`; null when nothing is
 * wrong there (the app's process runs and listens on an address a preview reaches).
 */
export async function diagnose(sandbox: Sandbox, port: number, secrets: string[]): Promise<AppProblem | null> {
	const process = await sandbox.getProcess(APP_PROCESS_ID);
	if (process?.status !== 'running') return problem('exited', exitMessage(process), await lastLines(sandbox, secrets));
	const addresses = await listenersOn(sandbox, port);
	if (addresses.length === 0) {
		const message = `Nothing listens on port ${port}, though the app's process is running: it closed its server, or never opened one there.`;
		return problem('not-listening', message, await lastLines(sandbox, secrets));
	}
	if (addresses.every(isLoopback)) return problem('loopback-only', loopbackOnlyMessage(socketAddresses(addresses, port)), await lastLines(sandbox, secrets));
	return null;
}

/** The app answered a preview's request with a 5xx. */
export async function serverError(sandbox: Sandbox, secrets: string[], answer: { status: number; method: string; path: string }): Promise<AppProblem> {
	const request = requestLine(answer);
	return { ...problem('server-error', `The app answered ${answer.status} to ${request}.`, await lastLines(sandbox, secrets)), request };
}

/** `GET /api/notes`: a request as a problem names it (a path of any length is cut short). */
export function requestLine({ method, path }: { method: string; path: string }): string {
	return `${method.slice(0, 16)} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`;
}

/** A restart whose app failed the way a boot does (boot.ts): the same evidence, as a problem. */
export async function restartFailure(sandbox: Sandbox, secrets: string[], error: unknown, message: string): Promise<AppProblem | null> {
	const kind = failureKind(error);
	return kind && problem(kind, message, await lastLines(sandbox, secrets));
}

/** Which problem a boot's error is, if the app is to blame for it. */
function failureKind(error: unknown): AppProblem['kind'] | null {
	if (error instanceof NotReady) return error.answered === null ? 'not-listening' : error.answered >= 500 ? 'server-error' : 'not-ready';
	if (!(error instanceof SandboxError)) return null;
	if (error.code === 'PROCESS_EXITED_BEFORE_READY') return 'exited';
	if (error.code === 'LOOPBACK_ONLY') return 'loopback-only';
	return null;
}

function exitMessage(process: ProcessInfo | null): string {
	if (!process) return "The app's process is not running in the sandbox.";
	if (process.status === 'killed') return `The app's process was stopped by a signal${process.exitCode === null ? '' : ` (exit code ${process.exitCode})`}.`;
	if (process.status === 'error') return "The app's process could not be started.";
	return `The app exited with code ${process.exitCode ?? 'unknown'}.`;
}

function problem(kind: AppProblem['kind'], message: string, log: AppProblem['log']): AppProblem {
	return { kind, message, log, at: Date.now() };
}
