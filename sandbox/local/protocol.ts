/**
 * The runtime's HTTP control API, served by server.ts. This is the engine's
 * side of the wire contract with the app, whose local backend is its client:
 *
 *   GET    /v1/health                     → RuntimeHealth
 *   GET    /v1/sandboxes                  → the sandboxes the runtime knows
 *   POST   /v1/sandboxes/{id}/{operation} → the operation's result (JSON body: its arguments)
 *   DELETE /v1/sandboxes/{id}             → destroys the sandbox
 *
 * Every call carries `Authorization: Bearer <secret>`. A call may carry
 * `X-Sandbox-Sleep-After: <seconds>`, the sandbox's idle timeout. Errors are
 * `{ error: { code, message, retryable } }` with a fitting status (errors.ts).
 * Results have the shapes of the SDK's own (ExecResult, ProcessInfo, …).
 *
 * Preview traffic is not a control call: the app forwards a request for a
 * preview host with that host in `X-Sandbox-Preview-Host`, and the runtime
 * answers it from the sandbox (or 404 / 410 as the SDK's proxy does).
 */
import * as v from 'valibot';
import { ExposablePort, PreviewHostname, PreviewToken } from './rules.ts';

export const PREVIEW_HOST_HEADER = 'x-sandbox-preview-host';
export const SLEEP_AFTER_HEADER = 'x-sandbox-sleep-after';

/** The largest file writeFile accepts (the request body may be larger, for base64). */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

const Path = v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.check((p) => !p.includes('\0'), 'A path cannot contain NUL'));
const Command = v.pipe(v.string(), v.minLength(1, 'The command is empty'), v.maxLength(100_000));
const Env = v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'Invalid environment variable name')), v.string());
const Millis = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3_600_000));
const ProcessId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'A process ID is 1-64 letters, digits, _ . or -'));
const Encoding = v.optional(v.picklist(['utf-8', 'base64']), 'utf-8');
const AnyPort = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const Status = v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(599));

export const operationSchemas = {
	exec: v.strictObject({ command: Command, cwd: v.optional(Path), env: v.optional(Env), timeout: v.optional(Millis) }),
	writeFile: v.strictObject({
		path: Path,
		content: v.pipe(v.string(), v.maxLength(Math.ceil((MAX_FILE_BYTES * 4) / 3), 'The file is too large')),
		encoding: Encoding
	}),
	readFile: v.strictObject({ path: Path, encoding: Encoding }),
	mkdir: v.strictObject({ path: Path, recursive: v.optional(v.boolean(), false) }),
	startProcess: v.strictObject({ command: Command, processId: v.optional(ProcessId), cwd: v.optional(Path), env: v.optional(Env) }),
	getProcess: v.strictObject({ processId: ProcessId }),
	listProcesses: v.strictObject({}),
	killProcess: v.strictObject({ processId: ProcessId, signal: v.optional(v.picklist(['SIGTERM', 'SIGKILL', 'SIGINT']), 'SIGTERM') }),
	getProcessLogs: v.strictObject({ processId: ProcessId }),
	waitForPort: v.strictObject({
		port: AnyPort,
		processId: v.optional(ProcessId),
		mode: v.optional(v.picklist(['http', 'tcp'])),
		path: v.optional(v.pipe(v.string(), v.startsWith('/'), v.maxLength(2048))),
		status: v.optional(v.union([Status, v.strictObject({ min: Status, max: Status })])),
		timeout: v.optional(Millis),
		interval: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(60_000)))
	}),
	exposePort: v.strictObject({ port: ExposablePort, hostname: PreviewHostname, token: v.optional(PreviewToken) }),
	unexposePort: v.strictObject({ port: ExposablePort }),
	getExposedPorts: v.strictObject({ hostname: PreviewHostname })
};

export type Operation = keyof typeof operationSchemas;

export interface RuntimeHealth {
	sandboxes: { running: number; max: number };
	limits: { enforced: true; memoryBytes: number; cpus: number; pids: number } | { enforced: false; reason: string };
}
