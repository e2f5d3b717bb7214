/**
 * The port forwarder: one per container, started by the engine inside the container's network
 * namespace (and nothing else of it: it sees the host's files, not the container's).
 *
 * The engine opens each listening socket on the host's 127.0.0.1 itself and hands it over this
 * process's IPC channel; a socket stays in the namespace it was made in, so this process accepts
 * on the host's loopback while its own outgoing connections start in the container's namespace,
 * where the guest's server listens on 127.0.0.1 or 0.0.0.0. One hop in the kernel's loopback on
 * each side — no user-space TCP stack in between (slirp4netns's port forwards go through one, with
 * a listen backlog of 1 that drops connections under load).
 *
 * Messages from the engine:
 *   { open: id, guestPort } + a net.Server handle   start forwarding that socket to guestPort
 *   { close: id }                                   stop (connections under way go on)
 * When the engine goes away, even by SIGKILL, the IPC channel closes and this process exits.
 * Its one argument, the sandbox's directory on the host, only names it in `ps`.
 */
import { connect, type Server, type Socket } from 'node:net';
import { restoreOriginalHost } from './original-host.ts';

interface OpenMessage {
	open: number;
	guestPort: number;
}
interface CloseMessage {
	close: number;
}

const listeners = new Map<number, Server>();

/** The most a request head may take before the forwarder stops looking for the host header in it. */
const MAX_HEAD_BYTES = 64 * 1024;

function forward(client: Socket, guestPort: number) {
	const guest = connect({ host: '127.0.0.1', port: guestPort });
	// Nothing listens inside: reset the client's connection, which the engine's caller reads as
	// "not listening" (a container's port that is not up yet).
	let connected = false;
	const end = () => {
		if (connected) client.destroy();
		else if (!client.destroyed) client.resetAndDestroy();
		guest.destroy();
	};
	client.on('error', end).on('close', end);
	guest.on('error', end).on('close', end);
	guest.once('connect', () => {
		connected = true;
		guest.pipe(client);
	});
	firstHead(client, (head) => {
		guest.write(restoreOriginalHost(head));
		client.pipe(guest);
	});
}

/**
 * Reads the connection's first bytes up to the end of its first request head (or a bounded amount
 * of whatever else it carries) and hands them over; the rest is piped as it comes.
 */
function firstHead(client: Socket, onHead: (head: Buffer) => void) {
	let head = Buffer.alloc(0);
	const onData = (chunk: Buffer) => {
		head = Buffer.concat([head, chunk]);
		if (head.indexOf('\r\n\r\n') === -1 && head.length < MAX_HEAD_BYTES) return;
		client.off('data', onData).pause();
		onHead(head);
	};
	client.on('data', onData);
}


process.on('message', (message: OpenMessage | CloseMessage, handle?: Server) => {
	if ('open' in message && handle) {
		listeners.set(message.open, handle);
		handle.on('connection', (client: Socket) => forward(client, message.guestPort));
	} else if ('close' in message) {
		listeners.get(message.close)?.close();
		listeners.delete(message.close);
	}
});
process.on('disconnect', () => process.exit(0));
process.send?.('ready');
