/**
 * The local sandbox runtime's HTTP control API, as the app speaks it. This is
 * the app's side of the wire contract; the runtime (sandbox/local/) keeps its
 * own, and checks every call again.
 *
 *   POST   /v1/sandboxes/{id}/{operation}  JSON arguments in, the operation's result out
 *   DELETE /v1/sandboxes/{id}              destroys the sandbox
 *
 * Calls carry `Authorization: Bearer <secret>`, and may carry the sandbox's
 * idle timeout in seconds. Errors are `{ error: { code, message, retryable } }`.
 * A request for a preview host is forwarded with that host in its own header.
 */
import type {
	ExecOptions,
	ExecResult,
	ExposedPort,
	ProcessInfo,
	ProcessLogs,
	StartProcessOptions,
	WaitForPortOptions
} from './types.ts';

export const PREVIEW_HOST_HEADER = 'x-sandbox-preview-host';
export const SLEEP_AFTER_HEADER = 'x-sandbox-sleep-after';

type Encoding = { encoding?: 'utf-8' | 'base64' };
type Empty = Record<string, never>;

/** Each operation's arguments and result. */
export interface Operations {
	exec: { args: { command: string } & ExecOptions; result: ExecResult };
	writeFile: { args: { path: string; content: string } & Encoding; result: Empty };
	readFile: { args: { path: string } & Encoding; result: { content: string } };
	mkdir: { args: { path: string; recursive?: boolean }; result: Empty };
	startProcess: { args: { command: string } & StartProcessOptions; result: ProcessInfo };
	getProcess: { args: { processId: string }; result: ProcessInfo | null };
	listProcesses: { args: Empty; result: ProcessInfo[] };
	killProcess: { args: { processId: string; signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT' }; result: ProcessInfo };
	getProcessLogs: { args: { processId: string }; result: ProcessLogs };
	waitForPort: { args: { port: number; processId?: string } & WaitForPortOptions; result: Empty };
	exposePort: { args: { port: number; hostname: string; token?: string }; result: { url: string; port: number } };
	unexposePort: { args: { port: number }; result: Empty };
	getExposedPorts: { args: { hostname: string }; result: ExposedPort[] };
}

export type Operation = keyof Operations;

export interface ErrorBody {
	error: { code: string; message: string; retryable: boolean };
}
