/**
 * Preview routing: a request for `{port}-{id}-{token}.{host}` reaches the
 * sandbox's port, HTTP and WebSocket alike, with the SDK proxy's answers when
 * it cannot: 404 `INVALID_TOKEN` for a wrong token or an unexposed port, 410
 * `STALE_PREVIEW_URL` for a sandbox that is not running.
 *
 * Like the SDK, plain HTTP reaches the app as `Host: localhost:<port>` with the
 * public host in `X-Forwarded-Host`, while WebSocket upgrades keep the public
 * Host (so a Vite dev server inside must allow it).
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline, type Duplex } from 'node:stream';
import { PREVIEW_HOST_HEADER } from './protocol.ts';
import { parsePreviewHost } from './rules.ts';
import type { LocalRuntime, PreviewTarget } from './runtime.ts';
import { tunnelUpgrade } from './tunnel.ts';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

type Refusal = { status: number; body: { error: string; code: string } };

function refusal(target: PreviewTarget | null): Refusal | null {
	if (target === null) {
		return { status: 400, body: { error: 'Not a preview host', code: 'INVALID_PREVIEW_HOST' } };
	}
	if (target.kind === 'invalid') {
		return { status: 404, body: { error: 'Access denied: Invalid token or port not exposed', code: 'INVALID_TOKEN' } };
	}
	if (target.kind === 'stale') {
		return { status: 410, body: { error: 'Preview URL is stale because the sandbox is not running', code: 'STALE_PREVIEW_URL' } };
	}
	return null;
}

function resolve(runtime: LocalRuntime, headers: IncomingHttpHeaders) {
	const host = String(headers[PREVIEW_HOST_HEADER]);
	const route = parsePreviewHost(host);
	return { host, route, target: route ? runtime.resolvePreview(route) : null };
}

function forwardedHeaders(headers: IncomingHttpHeaders, publicHost: string): Record<string, string | string[]> {
	const result: Record<string, string | string[]> = {};
	for (const [name, value] of Object.entries(headers)) {
		if (value !== undefined && name !== PREVIEW_HOST_HEADER) result[name] = value;
	}
	result['x-forwarded-host'] = publicHost;
	result['x-forwarded-proto'] ??= 'http';
	return result;
}

export function proxyPreviewRequest(runtime: LocalRuntime, req: IncomingMessage, res: ServerResponse) {
	const { host, route, target } = resolve(runtime, req.headers);
	const refused = refusal(target);
	if (refused || target?.kind !== 'ready') {
		res.writeHead(refused!.status, { 'content-type': 'application/json' }).end(JSON.stringify(refused!.body));
		return;
	}
	const headers = forwardedHeaders(req.headers, host);
	for (const name of HOP_BY_HOP) delete headers[name];
	headers.host = `localhost:${route!.port}`;

	const upstream = httpRequest({ host: '127.0.0.1', port: target.hostPort, method: req.method, path: req.url, headers });
	upstream.on('response', (response) => {
		const responseHeaders = { ...response.headers };
		for (const name of HOP_BY_HOP) delete responseHeaders[name];
		res.writeHead(response.statusCode ?? 502, response.statusMessage, responseHeaders);
		// A server inside that cuts its response short must not leave the client (and this call's
		// activity) hanging: pipeline ends both sides on an error, where pipe() would wait forever.
		pipeline(response, res, () => {});
	});
	upstream.on('error', () => {
		if (res.headersSent) {
			res.destroy();
			return;
		}
		res.writeHead(502, { 'content-type': 'application/json' }).end(
			JSON.stringify({ error: `Nothing answered on port ${route!.port} in the sandbox`, code: 'PREVIEW_UNREACHABLE' })
		);
	});
	res.on('close', () => {
		upstream.destroy();
		target.done();
	});
	pipeline(req, upstream, () => {});
}

export function proxyPreviewUpgrade(runtime: LocalRuntime, req: IncomingMessage, client: Duplex, head: Buffer) {
	const { host, target } = resolve(runtime, req.headers);
	const refused = refusal(target);
	if (refused || target?.kind !== 'ready') {
		const body = JSON.stringify(refused!.body);
		client.end(
			`HTTP/1.1 ${refused!.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
		);
		return;
	}
	const headers = forwardedHeaders(req.headers, host);
	headers.host = host;
	const lines = Object.entries(headers).flatMap(([name, value]) =>
		(Array.isArray(value) ? value : [value]).map((item): [string, string] => [name, item])
	);
	tunnelUpgrade(req, client, head, { host: '127.0.0.1', port: target.hostPort, headers: lines }, target.done);
}
