/**
 * Node-only: forwards a WebSocket upgrade for a preview host to the local
 * runtime, for the Vite dev server (upgrades must be taken before Vite's own
 * HMR listener, and Node's fetch cannot carry them). The bytes pass through
 * untouched, with the public host named in the preview header. (In workerd,
 * client.ts's `proxyPreview` carries upgrades through fetch.)
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LocalBackendConfig } from './client.ts';
import { PREVIEW_HOST_HEADER } from './protocol.ts';

export function forwardPreviewUpgrade(config: LocalBackendConfig, req: IncomingMessage, socket: Duplex, head: Buffer) {
	const runtime = new URL(config.url);
	const upstream = connect(Number(runtime.port), runtime.hostname, () => {
		const lines = [`${req.method} ${req.url} HTTP/1.1`, `host: ${runtime.host}`, `${PREVIEW_HOST_HEADER}: ${req.headers.host}`];
		for (let i = 0; i < req.rawHeaders.length; i += 2) {
			if (req.rawHeaders[i].toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
		}
		upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
		if (head.length > 0) upstream.write(head);
		upstream.pipe(socket);
		socket.pipe(upstream);
	});
	const close = () => {
		upstream.destroy();
		socket.destroy();
	};
	upstream.on('error', close);
	socket.on('error', close);
	upstream.on('close', close);
	socket.on('close', close);
}
