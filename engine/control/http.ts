/**
 * The HTTP layer: a small router over node:http, JSON bodies in and out, and every failure
 * answered in the protocol's error shape (errors.ts). Handlers either return a JSON value (sent
 * with 200) or take over the response themselves (the SSE endpoints), returning `undefined`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, ProtocolError, toProtocolError } from './errors.ts';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RequestContext {
	req: IncomingMessage;
	res: ServerResponse;
	url: URL;
	/** Values of the `{name}` segments of the matched route, percent-decoded. */
	params: Record<string, string>;
	/** The parsed JSON body (POST only); `undefined` when the body is empty. */
	body: () => Promise<unknown>;
}

export type Handler = (context: RequestContext) => Promise<unknown> | unknown;

interface Route {
	method: Method;
	segments: string[];
	handler: Handler;
}

/** The SDK's clients send CORS-free server-to-server requests, but the real server adds these to every answer. */
export const CORS_HEADERS = {
	'Access-Control-Allow-Origin': '*',
	'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
	'Access-Control-Allow-Headers': 'Content-Type, Authorization, X-Session-Id, X-Sandbox-Id, X-Trace-Id'
};

/** Large enough for a 32 MiB file written as base64 (the protocol's read limit), small enough to refuse abuse. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export class Router {
	private readonly routes: Route[] = [];

	/** Routes match in registration order, so fixed paths go before `{id}` patterns that would also match them. */
	add(method: Method, path: string, handler: Handler) {
		this.routes.push({ method, segments: path.split('/'), handler });
	}

	async handle(req: IncomingMessage, res: ServerResponse) {
		try {
			const url = new URL(req.url ?? '/', 'http://control.invalid');
			if (req.method === 'OPTIONS') {
				res.writeHead(200, CORS_HEADERS).end();
				return;
			}
			const match = this.match(req.method ?? 'GET', url.pathname);
			if (!match) {
				req.resume();
				throw new ProtocolError(ErrorCode.UNKNOWN_ERROR, 'The requested endpoint was not found', {}, 404);
			}
			let parsed: Promise<unknown> | undefined;
			const context: RequestContext = { req, res, url, params: match.params, body: () => (parsed ??= readJsonBody(req)) };
			const result = await match.route.handler(context);
			// An unread body (a GET with content, a handler that needed none) must not stall the connection.
			if (!parsed) req.resume();
			if (result !== undefined) sendJson(res, 200, result);
		} catch (error) {
			sendError(res, error);
		}
	}

	private match(method: string, pathname: string) {
		const requested = pathname.split('/');
		for (const route of this.routes) {
			if (route.method !== method || route.segments.length !== requested.length) continue;
			const params: Record<string, string> = {};
			const matches = route.segments.every((segment, index) => {
				if (segment.startsWith('{') && segment.endsWith('}')) {
					params[segment.slice(1, -1)] = decodeSegment(requested[index]);
					return requested[index] !== '';
				}
				return segment === requested[index];
			});
			if (matches) return { route, params };
		}
		return undefined;
	}
}

function decodeSegment(segment: string): string {
	try {
		return decodeURIComponent(segment);
	} catch {
		return segment;
	}
}

/** Reads and parses a JSON body. An empty body reads as `undefined`; the caller's schema decides whether that is acceptable. */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of req as AsyncIterable<Buffer>) {
		size += chunk.length;
		if (size > MAX_BODY_BYTES) {
			req.destroy();
			throw new ProtocolError(ErrorCode.VALIDATION_FAILED, `Request body exceeds ${MAX_BODY_BYTES} bytes`);
		}
		chunks.push(chunk);
	}
	const text = Buffer.concat(chunks).toString('utf8');
	if (text.trim() === '') return undefined;
	try {
		return JSON.parse(text);
	} catch (error) {
		throw new ProtocolError(ErrorCode.VALIDATION_FAILED, `Failed to parse request body: ${(error as Error).message}`, {
			validationErrors: [{ field: 'body', message: 'Invalid JSON', code: 'INVALID_JSON' }]
		});
	}
}

export function sendJson(res: ServerResponse, status: number, value: unknown) {
	if (res.headersSent) {
		res.end();
		return;
	}
	const body = JSON.stringify(value);
	res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...CORS_HEADERS });
	res.end(body);
}

export function sendError(res: ServerResponse, error: unknown) {
	const protocolError = toProtocolError(error);
	if (protocolError.code === ErrorCode.INTERNAL_ERROR) console.error('[control] request failed:', protocolError.context.stack ?? protocolError.message);
	const body = protocolError.toBody();
	sendJson(res, body.httpStatus, body);
}
