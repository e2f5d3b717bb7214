/**
 * Node-only: forwards a WebSocket upgrade for a preview host to the local
 * runtime, for the Vite dev server (upgrades must be taken before Vite's own
 * HMR listener, and Node's fetch cannot carry them). The bytes pass through
 * untouched, with the public host named in the preview header. (In workerd,
 * local.ts's `proxyPreview` carries upgrades through fetch.)
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LocalBackendConfig } from './local.ts';
import { PREVIEW_HOST_HEADER } from './local-protocol.ts';

export function forwardPreviewUpgrade(config: LocalBackendConfig, req: IncomingMessage, client: Duplex, head: Buffer) {
	const runtime = new URL(config.url);
	const lines = [`${req.method} ${req.url} HTTP/1.1`, `host: ${runtime.host}`, `${PREVIEW_HOST_HEADER}: ${req.headers.host ?? ''}`];
	for (let i = 0; i < req.rawHeaders.length; i += 2) {
		// The preview header is ours to set: a client's own copy must not reach the runtime.
		const name = req.rawHeaders[i].toLowerCase();
		if (name !== 'host' && name !== PREVIEW_HOST_HEADER) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
	}
	// The request head is written anew, then both sockets are piped into each other until either closes.
	const upstream = connect({ host: runtime.hostname, port: Number(runtime.port) }, () => {
		upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
		if (head.length > 0) upstream.write(head);
		upstream.pipe(client);
		client.pipe(upstream);
	});
	const close = () => {
		upstream.destroy();
		client.destroy();
	};
	for (const socket of [upstream, client]) {
		socket.on('error', close);
		socket.on('close', close);
	}
}
