/**
 * Reading what listens on a port from the kernel's tables, against real sockets on this machine:
 * the evidence the boot gives when an app is bound to 127.0.0.1 only (see boot.ts).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { isLoopback, listeningAddresses } from '../../src/lib/server/sandbox/listeners.ts';

const servers: Server[] = [];
afterAll(() => servers.forEach((server) => server.close()));

async function listen(host: string): Promise<number> {
	const server = createServer();
	servers.push(server);
	await new Promise<void>((resolve) => server.listen({ host, port: 0, ipv6Only: host.includes(':') }, resolve));
	return (server.address() as { port: number }).port;
}

const tables = () => readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');

describe('listeningAddresses', () => {
	it('names each address a port is listened on, IPv4 and IPv6', async () => {
		const cases: [string, string][] = [
			['127.0.0.1', '127.0.0.1'],
			['0.0.0.0', '0.0.0.0'],
			['::1', '::1'],
			['::', '::']
		];
		for (const [host, expected] of cases) {
			const port = await listen(host);
			expect(listeningAddresses(tables(), port), host).toEqual([expected]);
		}
	});

	it('finds nothing on a port nobody listens on, and ignores connections', async () => {
		const port = await listen('127.0.0.1');
		servers.pop()!.close();
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(listeningAddresses(tables(), port)).toEqual([]);
		expect(listeningAddresses('garbage\n  0: nonsense', port)).toEqual([]);
	});

	it('tells loopback from every address', () => {
		expect(['127.0.0.1', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
		expect(['0.0.0.0', '::', '10.0.2.100'].some(isLoopback)).toBe(false);
	});
});
