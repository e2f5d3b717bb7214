/**
 * The local backend of the app's sandbox interface: a small client of the
 * local sandbox runtime's control API (local-protocol.ts). It only uses
 * `fetch`, so it runs the same in Node (`vite dev`) and in workerd
 * (`wrangler dev`).
 */
import * as v from 'valibot';
import { PREVIEW_HOST_HEADER, SLEEP_AFTER_HEADER, type ErrorBody, type Operation, type Operations } from './local-protocol.ts';
import { SandboxId, SleepAfter, parsePreviewHost } from './rules.ts';
import {
	SandboxError,
	type ProcessInfo,
	type Sandbox,
	type SandboxBackend,
	type SandboxErrorCode,
	type SandboxOptions,
	type SandboxProcess
} from './types.ts';

export interface LocalBackendConfig {
	/** The runtime's address, e.g. http://127.0.0.1:41234 (LOCAL_SANDBOX_URL). */
	url: string;
	/** The runtime's bearer secret (LOCAL_SANDBOX_SECRET). */
	secret: string;
}

/** The runtime's own error codes (a call that never reached a sandbox), in the app's terms; its others are the app's. */
const RUNTIME_ONLY_CODES: Record<string, SandboxErrorCode> = {
	UNAUTHORIZED: 'BACKEND_UNAVAILABLE',
	HOST_NOT_ALLOWED: 'BACKEND_UNAVAILABLE',
	NOT_FOUND: 'INTERNAL',
	METHOD_NOT_ALLOWED: 'INTERNAL',
	BODY_TOO_LARGE: 'INVALID_REQUEST'
};

/** Reads the runtime's address and secret from an environment (process.env, or the worker's env). */
export function localBackendConfigFrom(env: Record<string, unknown>): LocalBackendConfig {
	const { LOCAL_SANDBOX_URL: url, LOCAL_SANDBOX_SECRET: secret } = env;
	if (typeof url !== 'string' || typeof secret !== 'string' || !url || !secret) {
		throw new SandboxError(
			'BACKEND_UNAVAILABLE',
			'LOCAL_SANDBOX_URL and LOCAL_SANDBOX_SECRET are not set. Start the app with `npm run dev` ' +
				'(it starts the local sandbox runtime), or start the runtime with `npm run sandbox` and export what it prints.'
		);
	}
	return { url: url.replace(/\/+$/, ''), secret };
}

export function createLocalBackend(config: LocalBackendConfig): SandboxBackend {
	async function call<Op extends Operation>(
		id: string,
		op: Op,
		args: Operations[Op]['args'],
		sleepAfterSeconds?: number
	): Promise<Operations[Op]['result']> {
		const headers: Record<string, string> = {
			authorization: `Bearer ${config.secret}`,
			'content-type': 'application/json'
		};
		if (sleepAfterSeconds !== undefined) headers[SLEEP_AFTER_HEADER] = String(sleepAfterSeconds);
		return request(`/v1/sandboxes/${id}/${op}`, { method: 'POST', headers, body: JSON.stringify(args) });
	}

	async function request<T>(path: string, init: RequestInit): Promise<T> {
		let response: Response;
		try {
			response = await fetch(`${config.url}${path}`, init);
		} catch (cause) {
			throw new SandboxError(
				'BACKEND_UNAVAILABLE',
				`The local sandbox runtime at ${config.url} is not reachable. Is it running? (\`npm run dev\` starts it.)`,
				{ retryable: true, cause }
			);
		}
		const body = (await response.json().catch(() => null)) as T | ErrorBody | null;
		if (response.ok) return body as T;
		const error = (body as ErrorBody | null)?.error;
		const code = error ? (RUNTIME_ONLY_CODES[error.code] ?? (error.code as SandboxErrorCode)) : 'INTERNAL';
		throw new SandboxError(code, error?.message ?? `The sandbox runtime answered ${response.status}`, {
			retryable: error?.retryable
		});
	}

	function getSandbox(rawId: string, options: SandboxOptions = {}): Sandbox {
		const id = v.safeParse(SandboxId, rawId);
		if (!id.success) throw new SandboxError('INVALID_REQUEST', `Invalid sandbox ID "${rawId}": ${id.issues[0].message}`);
		let sleepAfter: number | undefined;
		if (options.sleepAfter !== undefined) {
			const parsed = v.safeParse(SleepAfter, options.sleepAfter);
			if (!parsed.success) throw new SandboxError('INVALID_REQUEST', parsed.issues[0].message);
			sleepAfter = parsed.output;
		}
		const sandboxId = id.output;
		const run = <Op extends Operation>(op: Op, args: Operations[Op]['args']) => call(sandboxId, op, args, sleepAfter);

		const processHandle = (info: ProcessInfo): SandboxProcess => ({
			...info,
			getStatus: async () => (await run('getProcess', { processId: info.id }))?.status ?? 'error',
			getLogs: () => run('getProcessLogs', { processId: info.id }),
			kill: async (signal = 'SIGTERM') => {
				await run('killProcess', { processId: info.id, signal });
			},
			waitForPort: async (port, waitOptions = {}) => {
				await run('waitForPort', { port, processId: info.id, ...waitOptions });
			}
		});

		return {
			id: sandboxId,
			exec: (command, execOptions = {}) => run('exec', { command, ...execOptions }),
			writeFile: async (path, content, fileOptions = {}) => {
				await run('writeFile', { path, content, ...fileOptions });
			},
			readFile: (path, fileOptions = {}) => run('readFile', { path, ...fileOptions }),
			mkdir: async (path, mkdirOptions = {}) => {
				await run('mkdir', { path, ...mkdirOptions });
			},
			startProcess: async (command, processOptions = {}) =>
				processHandle(await run('startProcess', { command, ...processOptions })),
			getProcess: async (processId) => {
				const info = await run('getProcess', { processId });
				return info && processHandle(info);
			},
			listProcesses: () => run('listProcesses', {}),
			exposePort: (port, { hostname, token }) => run('exposePort', { port, hostname, token }),
			unexposePort: async (port) => {
				await run('unexposePort', { port });
			},
			getExposedPorts: (hostname) => run('getExposedPorts', { hostname }),
			destroy: async () => {
				await request(`/v1/sandboxes/${sandboxId}`, {
					method: 'DELETE',
					headers: { authorization: `Bearer ${config.secret}` }
				});
			}
		};
	}

	async function proxyPreview(incoming: Request): Promise<Response | null> {
		const url = new URL(incoming.url);
		if (!parsePreviewHost(url.host)) return null;
		const headers = new Headers(incoming.headers);
		headers.set(PREVIEW_HOST_HEADER, url.host);
		headers.set('x-forwarded-proto', url.protocol.slice(0, -1));
		// Node's fetch decodes compressed bodies but keeps Content-Encoding, which
		// would make the browser decode twice; on loopback, identity costs nothing.
		headers.set('accept-encoding', 'identity');
		const hasBody = incoming.method !== 'GET' && incoming.method !== 'HEAD';
		let upstream: Response;
		try {
			upstream = await fetch(`${config.url}${url.pathname}${url.search}`, {
				method: incoming.method,
				headers,
				body: hasBody ? incoming.body : undefined,
				redirect: 'manual',
				// @ts-expect-error -- Node's fetch needs `duplex` to stream a request body.
				duplex: hasBody ? 'half' : undefined
			});
		} catch {
			return Response.json(
				{ error: 'The local sandbox runtime is not reachable', code: 'BACKEND_UNAVAILABLE' },
				{ status: 502 }
			);
		}
		// A WebSocket (workerd only: Node's fetch cannot upgrade) must be passed on as it is.
		if (upstream.status === 101) return upstream;
		// Otherwise a fresh Response: fetch's headers are immutable, and the app may add its own.
		return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: upstream.headers });
	}

	return { getSandbox, proxyPreview };
}
