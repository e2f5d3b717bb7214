/**
 * The engine's HTTP server on 127.0.0.1:
 *
 *   GET  /v1/health              → EngineHealth: running containers and the limits in force
 *   …    /v1/containers/{name}…  the container API that workerd's Durable Objects use (engine-api.ts)
 *
 * Two guards apply to every request. The Host must be the server's own
 * loopback address, which defeats DNS rebinding: a web page cannot make the
 * browser send `Host: 127.0.0.1:<port>`. And every call needs the bearer
 * secret that was generated for this run and handed to workerd through its
 * environment. Errors are `{ error: { code, message, retryable } }` with a
 * fitting status (errors.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { handleContainerCall } from './engine-api.ts';
import type { ContainerEngine } from './engine.ts';
import { RuntimeError } from './errors.ts';

/** Comfortably above a start's 1 MiB of environment variables, even when JSON escapes much of it. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface EngineHealth {
	sandboxes: { running: number; max: number };
	limits: { enforced: true; memoryBytes: number; cpus: number; pids: number } | { enforced: false; reason: string };
}

export interface ServerOptions {
	engine: ContainerEngine;
	secret: string;
	health: () => EngineHealth;
}

export function createEngineServer({ engine, secret, health }: ServerOptions): Server {
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
					throw new RuntimeError('HOST_NOT_ALLOWED', `Host ${req.headers.host} is not this engine's address`);
				}
				if (!authorized(req.headers.authorization)) {
					throw new RuntimeError('UNAUTHORIZED', 'Missing or wrong bearer secret');
				}
				sendJson(res, 200, await route(req));
			} catch (error) {
				sendError(res, error);
			}
		})();
	});

	// Nothing here speaks WebSocket or tunnels: a container's ports are reached through their forwards.
	// Node takes its own 'error' listener off the socket it hands to these events, and a socket
	// without one throws — a client resetting it would end the engine, and every container with it.
	const refuse = (status: string) => (_req: IncomingMessage, socket: Duplex) => {
		socket.on('error', () => socket.destroy());
		socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
	};
	server.on('upgrade', refuse('403 Forbidden'));
	server.on('connect', refuse('405 Method Not Allowed'));

	async function route(req: IncomingMessage): Promise<unknown> {
		const url = new URL(req.url ?? '/', 'http://engine');
		const segments = url.pathname.split('/').filter(Boolean);
		if (segments[0] === 'v1' && segments.length === 2 && segments[1] === 'health') {
			requireMethod(req, 'GET');
			return health();
		}
		if (segments[0] === 'v1' && segments[1] === 'containers') {
			return handleContainerCall(engine, req, segments.slice(2).map(decodeSegment), () => readJson(req));
		}
		throw new RuntimeError('NOT_FOUND', `No such endpoint: ${url.pathname}`);
	}

	return server;
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
