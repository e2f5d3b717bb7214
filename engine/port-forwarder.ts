/**
 * The port forwarder: one per container, started by the engine inside the container's network
 * namespace (and nothing else of it: it sees the host's files, not the container's).
 *
 * The engine opens each listening socket on the host's 127.0.0.1 itself and hands it over this
 * process's IPC channel; a socket stays in the namespace it was made in, so this process accepts
 * on the host's loopback while its own outgoing connections start in the container's namespace.
 * There they go to GUEST_ADDRESS, not 127.0.0.1: on Cloudflare a request arrives at the
 * container's own address, so a server that listens on 127.0.0.1 (or `localhost`) only is refused
 * there — and so it is here; one on 0.0.0.0 (or ::) takes it. One hop in the kernel's loopback on
 * each side — no user-space TCP stack in between (slirp4netns's port forwards go through one, with
 * a listen backlog of 1 that drops connections under load). The first request head of each
 * connection is checked and adjusted first (forwarded-head.ts); the rest is piped untouched.
 *
 * Messages from the engine:
 *   { open: id, guestPort, token? } + a net.Server handle   start forwarding that socket to guestPort
 *   { close: id }                                           stop (connections under way go on)
 * When the engine goes away, even by SIGKILL, the IPC channel closes and this process exits.
 * Its one argument, the sandbox's directory on the host, only names it in `ps`.
 */
import { connect, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { acceptHead } from './forwarded-head.ts';

interface OpenMessage {
	open: number;
	guestPort: number;
	/** Required in the first request of every connection, when set. */
	token?: string;
}
interface CloseMessage {
	close: number;
}

/**
 * The address the container's servers are reached at: on its loopback network, so that no route or
 * interface is needed (a container without internet has no other), but not 127.0.0.1.
 */
const GUEST_ADDRESS = '127.0.0.2';

/** The most a request head may take before the connection is taken for something else. */
const MAX_HEAD_BYTES = 64 * 1024;

const listeners = new Map<number, Server>();

function forward(client: Socket, { guestPort, token }: OpenMessage) {
	client.on('error', () => client.destroy());
	// A client that half-closes after its request still gets the answer: its end is passed on to the
	// guest, whose own end closes the client (the server's default would end the client at once).
	client.allowHalfOpen = true;
	firstHead(client, (head) => {
		const accepted = acceptHead(head, token);
		if (!accepted) return client.resetAndDestroy();
		const guest = connect({ host: GUEST_ADDRESS, port: guestPort });
		let connected = false;
		guest.once('connect', () => {
			connected = true;
			// The client may have gone (reset) while this connection was made: pipeline() throws on a
			// destroyed stream, which would end this process and with it every port of the container.
			if (client.destroyed) return guest.destroy();
			guest.write(accepted);
			// Each direction ends the other gracefully at its end (what is buffered still goes out),
			// and tears both down if it breaks off.
			pipeline(client, guest, () => {});
			pipeline(guest, client, () => {});
		});
		// Nothing listens inside: reset the client's connection, which workerd's side of the engine
		// reports as "not listening" (a container's port that is not up yet). Later errors are the
		// pipelines' (and 'on', not 'once': an error nobody hears is thrown).
		guest.on('error', () => {
			if (!connected) client.resetAndDestroy();
		});
	});
}

/**
 * Reads the connection's first bytes up to the end of its first request head (or a bounded amount,
 * or what came before the client ended its side).
 */
function firstHead(client: Socket, onHead: (head: Buffer) => void) {
	let head = Buffer.alloc(0);
	const take = () => {
		client.off('data', onData).off('end', take).pause();
		onHead(head);
	};
	const onData = (chunk: Buffer) => {
		head = Buffer.concat([head, chunk]);
		if (head.indexOf('\r\n\r\n') === -1 && head.length < MAX_HEAD_BYTES) return;
		take();
	};
	client.on('data', onData).on('end', take);
}

process.on('message', (message: OpenMessage | CloseMessage, handle?: Server) => {
	if ('open' in message && handle) {
		listeners.set(message.open, handle);
		handle.on('connection', (client: Socket) => forward(client, message));
		// A failed accept (too many open files) is that connection's loss, not the end of every port.
		handle.on('error', (error) => console.error(`port ${message.guestPort}: ${error.message}`));
	} else if ('close' in message) {
		listeners.get(message.close)?.close();
		listeners.delete(message.close);
	}
});
process.on('disconnect', () => process.exit(0));
process.send?.('ready');
