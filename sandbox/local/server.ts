/**
 * The runtime's HTTP server on 127.0.0.1: the control API (see protocol.ts)
 * and preview routing (see preview-proxy.ts).
 *
 * Two guards apply to every request. The Host must be the server's own
 * loopback address, which defeats DNS rebinding: a web page cannot make the
 * browser send `Host: 127.0.0.1:<port>`. And control calls need the bearer
 * secret that was generated for this run and handed to the app through its
 * environment.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { WRITABLE_ROOTS } from './agent-protocol.ts';
import { handleContainerCall } from './engine-api.ts';
import type { ContainerEngine } from './engine.ts';
import { RuntimeError, parseRequest as parse } from './errors.ts';
import { proxyPreviewRequest, proxyPreviewUpgrade } from './preview-proxy.ts';
import {
	MAX_FILE_BYTES,
	PREVIEW_HOST_HEADER,
	SLEEP_AFTER_HEADER,
	operationSchemas,
	type Operation,
	type RuntimeHealth
} from './protocol.ts';
import { SandboxId, SleepAfter } from './rules.ts';
import type { LocalRuntime } from './runtime.ts';

const MAX_BODY_BYTES = 2 * MAX_FILE_BYTES;

export interface ServerOptions {
	runtime: LocalRuntime;
	engine: ContainerEngine;
	secret: string;
	health: () => RuntimeHealth;
}

export function createRuntimeServer({ runtime, engine, secret, health }: ServerOptions): Server {
	const expectedAuth = Buffer.from(`Bearer ${secret}`);
	const server = createServer();

	const hostAllowed = (host: string | undefined) => {
		const { port } = server.address() as { port: number };
		return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
	};
	const authorized = (header: string | undefined) => {
		const given = Buffer.from(header ?? '');
		return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
	};

	server.on('request', (req: IncomingMessage, res: ServerResponse) => {
		void (async () => {
			try {
				if (!hostAllowed(req.headers.host)) {
					throw new RuntimeError('HOST_NOT_ALLOWED', `Host ${req.headers.host} is not this runtime's address`);
				}
				if (req.headers[PREVIEW_HOST_HEADER] !== undefined) {
					proxyPreviewRequest(runtime, req, res);
					return;
				}
				if (!authorized(req.headers.authorization)) {
					throw new RuntimeError('UNAUTHORIZED', 'Missing or wrong bearer secret');
				}
				sendJson(res, 200, await control(req));
			} catch (error) {
				sendError(res, error);
			}
		})();
	});

	server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
		if (!hostAllowed(req.headers.host) || req.headers[PREVIEW_HOST_HEADER] === undefined) {
			socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
			return;
		}
		proxyPreviewUpgrade(runtime, req, socket, head);
	});

	async function control(req: IncomingMessage): Promise<unknown> {
		const url = new URL(req.url ?? '/', 'http://runtime');
		const segments = url.pathname.split('/').filter(Boolean);
		if (segments[0] !== 'v1') throw notFound(url.pathname);

		if (segments.length === 2 && segments[1] === 'health') {
			requireMethod(req, 'GET');
			return health();
		}
		if (segments[1] === 'containers') {
			return handleContainerCall(engine, req, segments.slice(2).map(decodeSegment), () => readJson(req));
		}
		if (segments[1] !== 'sandboxes') throw notFound(url.pathname);
		if (segments.length === 2) {
			requireMethod(req, 'GET');
			return runtime.list();
		}
		const id = parse(SandboxId, decodeSegment(segments[2]), 'sandbox ID');
		if (segments.length === 3) {
			requireMethod(req, 'DELETE');
			await runtime.destroy(id);
			return {};
		}
		if (segments.length !== 4 || !Object.hasOwn(operationSchemas, segments[3])) throw notFound(url.pathname);
		requireMethod(req, 'POST');
		const op = segments[3] as Operation;
		const sleepHeader = req.headers[SLEEP_AFTER_HEADER];
		const sleepAfterMs = sleepHeader === undefined ? undefined : parse(SleepAfter, Number(sleepHeader), SLEEP_AFTER_HEADER) * 1000;
		return perform(runtime, id, op, await readJson(req), sleepAfterMs);
	}

	return server;
}

/** Validates an operation's arguments and carries it out. */
async function perform(runtime: LocalRuntime, id: string, op: Operation, body: unknown, sleepAfterMs: number | undefined) {
	const inContainer = (work: Parameters<LocalRuntime['withContainer']>[2]) => runtime.withContainer(id, sleepAfterMs, work);
	switch (op) {
		case 'exec': {
			const args = parse(operationSchemas.exec, body);
			if (args.cwd !== undefined) checkAbsolute(args.cwd);
			return inContainer((c) => c.call('exec', args));
		}
		case 'writeFile': {
			const args = parse(operationSchemas.writeFile, body);
			checkWritable(args.path);
			if (Buffer.byteLength(args.content, args.encoding === 'base64' ? 'base64' : 'utf8') > MAX_FILE_BYTES) {
				throw new RuntimeError('INVALID_REQUEST', `A file can be at most ${MAX_FILE_BYTES} bytes`);
			}
			return inContainer((c) => c.call('writeFile', args));
		}
		case 'readFile': {
			const args = parse(operationSchemas.readFile, body);
			checkWritable(args.path);
			return inContainer((c) => c.call('readFile', args));
		}
		case 'mkdir': {
			const args = parse(operationSchemas.mkdir, body);
			checkWritable(args.path);
			return inContainer((c) => c.call('mkdir', args));
		}
		case 'startProcess': {
			const { processId = `proc-${randomBytes(6).toString('hex')}`, ...rest } = parse(operationSchemas.startProcess, body);
			if (rest.cwd !== undefined) checkAbsolute(rest.cwd);
			return inContainer((c) => c.call('startProcess', { ...rest, processId }));
		}
		case 'waitForPort': {
			const args = parse(operationSchemas.waitForPort, body);
			return inContainer((c) => c.call('waitForPort', args));
		}
		case 'getProcess': {
			const args = parse(operationSchemas.getProcess, body);
			return runtime.ifRunning(id, (c) => c.call('getProcess', args), () => null);
		}
		case 'listProcesses':
			parse(operationSchemas.listProcesses, body);
			return runtime.ifRunning(id, (c) => c.call('listProcesses', {}), () => []);
		case 'killProcess':
		case 'getProcessLogs': {
			const args = parse(operationSchemas[op], body) as { processId: string; signal: 'SIGTERM' };
			return runtime.ifRunning(id, (c) => c.call(op, args), () => {
				throw new RuntimeError('PROCESS_NOT_FOUND', `No process with ID "${args.processId}"`);
			});
		}
		case 'exposePort': {
			const { port, hostname, token } = parse(operationSchemas.exposePort, body);
			return runtime.exposePort(id, port, hostname, token, sleepAfterMs);
		}
		case 'unexposePort': {
			await runtime.unexposePort(id, parse(operationSchemas.unexposePort, body).port);
			return {};
		}
		case 'getExposedPorts':
			return runtime.getExposedPorts(id, parse(operationSchemas.getExposedPorts, body).hostname);
	}
}

function checkAbsolute(path: string) {
	if (!path.startsWith('/')) throw new RuntimeError('PATH_NOT_ALLOWED', `${path} is not an absolute path`);
	if (path.split('/').some((segment) => segment === '..' || segment === '.')) {
		throw new RuntimeError('PATH_NOT_ALLOWED', `${path} contains "." or ".." segments`);
	}
}

/** File operations stay in the sandbox's writable storage; the agent re-checks after resolving symlinks. */
function checkWritable(path: string) {
	checkAbsolute(path);
	if (!WRITABLE_ROOTS.some((root) => path === root || path.startsWith(`${root}/`))) {
		throw new RuntimeError('PATH_NOT_ALLOWED', `${path} is outside ${WRITABLE_ROOTS.join(' and ')}`);
	}
}

function decodeSegment(segment: string): string {
	try {
		return decodeURIComponent(segment);
	} catch {
		throw new RuntimeError('INVALID_REQUEST', `Malformed path segment: ${segment}`);
	}
}

function requireMethod(req: IncomingMessage, method: string) {
	if (req.method !== method) throw new RuntimeError('METHOD_NOT_ALLOWED', `Use ${method} here`);
}

function notFound(path: string) {
	return new RuntimeError('NOT_FOUND', `No such endpoint: ${path}`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of req as AsyncIterable<Buffer>) {
		size += chunk.length;
		if (size > MAX_BODY_BYTES) throw new RuntimeError('BODY_TOO_LARGE', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
		chunks.push(chunk);
	}
	if (size === 0) return {};
	try {
		return JSON.parse(Buffer.concat(chunks).toString('utf8'));
	} catch {
		throw new RuntimeError('INVALID_REQUEST', 'The request body is not valid JSON');
	}
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
	const text = JSON.stringify(body ?? null);
	res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
	res.end(text);
}

function sendError(res: ServerResponse, error: unknown) {
	const known = error instanceof RuntimeError ? error : new RuntimeError('INTERNAL', (error as Error)?.message ?? String(error));
	if (res.headersSent) {
		res.destroy();
		return;
	}
	sendJson(res, known.status, known.toJSON(), known.retryable ? { 'retry-after': '5' } : {});
}
