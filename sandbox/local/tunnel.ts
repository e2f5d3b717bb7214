/**
 * Carries an HTTP upgrade (a WebSocket) to another server as raw bytes: the
 * request head is written anew, then both sockets are piped into each other
 * until either side closes.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

export function tunnelUpgrade(
	req: IncomingMessage,
	client: Duplex,
	head: Buffer,
	target: { host: string; port: number; headers: [string, string][] },
	onClose: () => void = () => {}
) {
	const upstream = connect({ host: target.host, port: target.port }, () => {
		const lines = [`${req.method} ${req.url} HTTP/1.1`, ...target.headers.map(([name, value]) => `${name}: ${value}`)];
		upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
		if (head.length > 0) upstream.write(head);
		upstream.pipe(client);
		client.pipe(upstream);
	});
	const close = () => {
		upstream.destroy();
		client.destroy();
		onClose();
	};
	for (const socket of [upstream, client]) {
		socket.on('error', close);
		socket.on('close', close);
	}
}
