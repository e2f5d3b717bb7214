import { describe, expect, it } from 'vitest';
import { clientNetwork } from '../../src/lib/server/client-network.ts';

describe('clientNetwork', () => {
	it.each([
		['203.0.113.7', '203.0.113.7'],
		['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3:8d3::/64'],
		['2001:DB8:85A3:08D3::1', '2001:db8:85a3:8d3::/64'],
		['2001:db8::1', '2001:db8:0:0::/64'],
		['::1', '0:0:0:0::/64'],
		['::ffff:127.0.0.1', '127.0.0.1']
	])('counts %s as %s', (address, network) => {
		expect(clientNetwork(address)).toBe(network);
	});

	it('counts two addresses of one /64 as one client, and of two /64s as two', () => {
		expect(clientNetwork('2001:db8:1:2:aaaa::1')).toBe(clientNetwork('2001:db8:1:2:bbbb::2'));
		expect(clientNetwork('2001:db8:1:2::1')).not.toBe(clientNetwork('2001:db8:1:3::1'));
	});
});
