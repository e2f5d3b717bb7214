/**
 * Code inside a container is hostile. These tests run it as an attacker would, in a real container
 * of the engine (started over its container API, as workerd's Durable Objects start them) running
 * as this machine's user (root on CI), and check what it can reach, read, write and use up.
 * No test sends a packet off this machine: private ranges are shown to be denied by listing the
 * rules, and the deny is proven against a listener on this machine's own address.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENIED_RANGES, egressRoutes, hostAddresses } from '../../engine/egress.ts';
import { fetchInside, startTestEngine, type TestContainer, type TestEngine } from '../helpers/engine.ts';
import { sandboxProcesses } from '../helpers/host.ts';

const asRoot = process.getuid?.() === 0;
/** A secret of the host's, in the engine's environment: it must not reach any container. */
const CANARY = { SANDBOX_TEST_CANARY: 'host-secret-7f3a9c' };
/** The container's own variables, as its Durable Object starts it with: these it must see. */
const CONTAINER_ENV = { APP_API_KEY: 'container-own-4b1d' };
/** What the engine passes in on purpose: the host's CA bundle; LANG is the container's own C.UTF-8. */
const PASSED_ON_PURPOSE = new Set(['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'LANG']);
/** Set by the container's own shells, whatever the host's holds (both are often SHLVL=1). */
const SET_INSIDE = new Set(['SHLVL']);

let engine: TestEngine;
let container: TestContainer;
/** A server on this machine's own non-loopback address, which slirp4netns would otherwise reach. */
let hostServer: Server;
let hostAddress: string;

beforeAll(async () => {
	engine = await startTestEngine({ ...CANARY, SANDBOX_ENGINE_DISK_MB: '64' });
	container = await engine.createContainer('hostile', { env: CONTAINER_ENV });
	await container.startProcess('sleep 300', { processId: 'background' });
	hostAddress = hostAddresses()[0]?.replace(/\/32$/, '');
	hostServer = createServer((_, res) => res.end('host service'));
	await new Promise<void>((resolve) => hostServer.listen(0, hostAddress, resolve));
});
afterAll(async () => {
	await container?.destroy();
	await engine?.stop();
	await new Promise((resolve) => hostServer?.close(resolve));
});

describe('no host root', () => {
	it.runIf(asRoot)("maps the container's root to an unprivileged host uid", async () => {
		const { stdout } = await container.exec('id -u; cat /proc/self/uid_map /proc/self/gid_map');
		const [inside, uidMap, gidMap] = stdout.trim().split('\n');
		expect(inside).toBe('0');
		for (const map of [uidMap, gidMap]) {
			const [first, outside, count] = map.trim().split(/\s+/).map(Number);
			expect(first).toBe(0);
			expect(outside).toBeGreaterThan(65535);
			expect(count).toBe(1);
		}
		// Seen from the host, every process of the container belongs to that uid: the control server too.
		const inNamespaces = sandboxProcesses(engine.stateDir).processes.filter(
			(p) => p.cmdline.includes('sleep 300') || p.cmdline.includes('/opt/sandbox-control/server.mjs')
		);
		expect(inNamespaces.filter((p) => p.cmdline.includes('sleep 300')).length).toBeGreaterThan(0);
		for (const { pid } of inNamespaces) {
			const uids = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
			expect(Number(uids)).toBeGreaterThan(65535);
		}
	});

	it('cannot open host-global /proc files for writing', async () => {
		for (const file of ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/panic', '/proc/sys/vm/drop_caches']) {
			const result = await container.exec(`sh -c 'exec 3> ${file}' 2>&1`);
			expect(result.exitCode, file).not.toBe(0);
			expect(result.stdout, file).toMatch(/Read-only file system|Permission denied/);
		}
	});

	it('cannot make a user namespace of its own (nor the capabilities that come with it)', async () => {
		const result = await container.exec('unshare --user --map-root-user --net true 2>&1');
		expect(result.exitCode).not.toBe(0);
	});

	it('runs Node 24 in /workspace, with its own hostname, on a read-only system', async () => {
		const result = await container.exec('pwd; node --version; hostname; echo $HOME; touch /usr/x 2>&1');
		expect(result.stdout).toMatch(/^\/workspace\nv24\.\d+\.\d+\nsandbox\n\/workspace\n.*Read-only file system/);
	});

	it("cannot overwrite the control server, the system's files or the host's, even through the file API", async () => {
		for (const path of ['/opt/sandbox-control/server.mjs', '/etc/passwd', '/usr/bin/node-x', '/opt/node/bin/node']) {
			const { status, body } = await container.writeFile(path, 'x');
			expect(status, path).toBeGreaterThanOrEqual(400);
			expect(body.message, path).toMatch(/read-only file system|permission denied|EROFS|EACCES/i);
		}
		// Through a symlink, too: the link resolves inside the container's own (read-only) view.
		await container.exec('ln -s /opt/sandbox-control /workspace/control-link');
		expect((await container.writeFile('/workspace/control-link/server.mjs', 'x')).status).toBeGreaterThanOrEqual(400);
		expect((await container.exec('head -c 100 /opt/sandbox-control/server.mjs')).stdout).not.toBe('x');
	});
});

describe('no host environment', () => {
	it("holds none of the host's variables in any process's environment, and the container's own", async () => {
		const { stdout } = await container.exec(`for f in /proc/[0-9]*/environ; do printf '%s\\n' "== $f"; tr '\\0' '\\n' < "$f"; echo; done`);
		const environments = stdout.split('== ').filter(Boolean);
		// bwrap (pid 1), the control server, this shell, the background process, at least.
		expect(environments.length).toBeGreaterThanOrEqual(4);
		expect(stdout).not.toContain(CANARY.SANDBOX_TEST_CANARY);
		expect(stdout).not.toContain(engine.secret);
		expect(stdout).toContain(`APP_API_KEY=${CONTAINER_ENV.APP_API_KEY}`);
		const leaked = stdout
			.split('\n')
			.map((line) => line.split('='))
			.filter(([name, ...value]) => !PASSED_ON_PURPOSE.has(name) && !SET_INSIDE.has(name) && process.env[name] === value.join('=') && value.length > 0);
		expect(leaked.map(([name]) => name)).toEqual([]);
	});
});

describe('egress', () => {
	it("cannot reach a service on the host's own address", async () => {
		expect(hostAddress).toBeTruthy();
		const { port } = hostServer.address() as { port: number };
		// The same server answers on the host: only the container is kept out.
		expect(await (await fetch(`http://${hostAddress}:${port}/`)).text()).toBe('host service');
		expect(await fetchInside(container, `http://${hostAddress}:${port}/`)).toBe('EHOSTUNREACH');
	});

	it('has every private, link-local, CGNAT and host range denied, and no IPv6 route out', async () => {
		const { stdout } = await container.exec('ip -4 route show type unreachable; echo ==; ip -6 route show default; ip -6 addr show scope global');
		const [unreachable, ipv6] = stdout.split('==\n');
		const denied = unreachable
			.split('\n')
			.map((line) => line.replace(/^unreachable /, '').trim())
			.filter(Boolean);
		const expected = [...DENIED_RANGES, ...hostAddresses()].map((range) => range.replace(/\/32$/, ''));
		expect(denied.sort()).toEqual([...new Set(expected)].sort());
		for (const range of ['10.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16']) {
			expect(denied).toContain(range);
		}
		expect(ipv6.trim()).toBe('');
		// What the kernel would do with a packet to each (asked, not sent): refuse it.
		for (const address of ['169.254.169.254', '10.1.2.3', '100.64.0.1', '172.16.0.1', '192.168.1.1']) {
			expect((await container.exec(`ip route get ${address} 2>&1`)).stdout, address).toMatch(/unreachable|No route to host/);
		}
	});

	it('cannot change the rules', async () => {
		const result = await container.exec('ip route del unreachable 10.0.0.0/8 2>&1; ip route add 169.254.0.0/16 via 10.0.2.2 2>&1');
		expect(result.stdout).toMatch(/Operation not permitted/);
		expect((await container.exec('ip -4 route show type unreachable')).stdout).toContain('169.254.0.0/16');
	});

	it('routes an allowed range through the gateway, and denies the rest', () => {
		const routes = egressRoutes({ hostAddresses: ['192.0.2.2/32'], allow: ['10.1.0.0/16', '192.0.2.2/32'] });
		expect(routes).toContain('route add unreachable 10.0.0.0/8');
		expect(routes).toContain('route add 10.1.0.0/16 via 10.0.2.2 dev tap0');
		expect(routes).toContain('route add 192.0.2.2/32 via 10.0.2.2 dev tap0');
		expect(routes).not.toContain('route add unreachable 192.0.2.2/32');
	});

	it('reaches a range that SANDBOX_ENGINE_EGRESS_ALLOW opens, and only with internet', async () => {
		const open = await startTestEngine({ SANDBOX_ENGINE_EGRESS_ALLOW: hostAddress });
		try {
			const allowed = await open.createContainer('allowed');
			const { port } = hostServer.address() as { port: number };
			expect(await fetchInside(allowed, `http://${hostAddress}:${port}/`)).toBe('host service');
			// A container without internet starts all the same (no gateway to route the range through),
			// and reaches nothing.
			const offline = await open.createContainer('offline', { enableInternet: false });
			expect(await fetchInside(offline, `http://${hostAddress}:${port}/`)).toMatch(/ENETUNREACH|EHOSTUNREACH/);
			expect((await offline.exec('ip -4 route show type unreachable')).stdout).toContain('169.254.0.0/16');
		} finally {
			await open.stop();
		}
	});

	it('refuses an allow list that is not IPv4 ranges, naming the setting', async () => {
		await expect(startTestEngine({ SANDBOX_ENGINE_EGRESS_ALLOW: '10.0.0.0/8,example.com' })).rejects.toThrow(/SANDBOX_ENGINE_EGRESS_ALLOW.*IPv4 address or range/s);
	});
});

describe('disk quota', () => {
	it('fails a write past the quota inside, with a clear error, and the host holds at most the quota', async () => {
		const fill = await container.exec('dd if=/dev/zero of=/workspace/fill bs=1M count=100 2>&1');
		expect(fill.exitCode).not.toBe(0);
		expect(fill.stdout).toContain('No space left on device');
		const more = await container.writeFile('/workspace/more.txt', 'x'.repeat(1 << 20));
		expect(more.status).toBe(500);
		expect(more.body.message).toMatch(/no space left on device/i);

		// On the host: everything the container's files take up.
		const run = readdirSync(engine.stateDir).find((entry) => entry.startsWith('run-'))!;
		const containers = join(engine.stateDir, run, 'sandboxes');
		let bytes = 0;
		for (const key of readdirSync(containers)) {
			for (const file of readdirSync(join(containers, key))) bytes += statSync(join(containers, key, file)).blocks * 512;
		}
		expect(bytes).toBeGreaterThan(50 * 1024 * 1024);
		expect(bytes).toBeLessThanOrEqual(64 * 1024 * 1024);

		// The container goes on: freeing space makes room again.
		await container.exec('rm /workspace/fill');
		expect((await container.writeFile('/workspace/more.txt', 'x'.repeat(1 << 20))).status).toBe(200);
	});
});

describe('the engine API', () => {
	it('refuses calls without the bearer secret', async () => {
		const response = await fetch(`${engine.url}/v1/containers/hostile`, { headers: { authorization: 'Bearer wrong' } });
		expect(response.status).toBe(401);
		expect((await response.json()).error.code).toBe('UNAUTHORIZED');
		// Nor can a caller without it start, open or destroy anything.
		for (const [method, path] of [
			['PUT', '/v1/containers/intruder'],
			['POST', '/v1/containers/hostile/ports/3000'],
			['DELETE', '/v1/containers/hostile']
		]) {
			expect((await fetch(`${engine.url}${path}`, { method, body: method === 'DELETE' ? undefined : '{}' })).status, `${method} ${path}`).toBe(401);
		}
		expect(await container.status()).toEqual({ running: true, exitCode: null });
	});

	it('refuses requests whose Host is not its own address (DNS rebinding)', async () => {
		const { port } = new URL(engine.url);
		// fetch cannot forge Host, so speak HTTP directly, as a rebinding page's browser would.
		const { createConnection } = await import('node:net');
		const reply = await new Promise<string>((resolve) => {
			const socket = createConnection(Number(port), '127.0.0.1', () => {
				socket.end(`GET /v1/containers/hostile HTTP/1.1\r\nHost: attacker.example:${port}\r\nAuthorization: Bearer ${engine.secret}\r\n\r\n`);
			});
			let text = '';
			socket.on('data', (chunk) => (text += chunk));
			socket.on('close', () => resolve(text));
		});
		expect(reply).toMatch(/^HTTP\/1\.1 403/);
		expect(reply).toContain('HOST_NOT_ALLOWED');
	});

	it('answers malformed requests with 400 and unknown endpoints with 404', async () => {
		const status = async (method: string, path: string, body?: string) => (await engine.api(path, { method, body })).status;
		expect(await status('PUT', '/v1/containers/bad.name', '{}')).toBe(400);
		expect(await status('PUT', `/v1/containers/${'a'.repeat(129)}`, '{}')).toBe(400);
		expect(await status('PUT', '/v1/containers/%E0%A4%A', '{}')).toBe(400);
		expect(await status('PUT', '/v1/containers/fresh', '{')).toBe(400);
		expect(await status('PUT', '/v1/containers/fresh', JSON.stringify({ env: { 'NOT-A-NAME': 'x' } }))).toBe(400);
		expect(await status('PUT', '/v1/containers/fresh', JSON.stringify({ env: { NUL: 'a\0b' } }))).toBe(400);
		expect(await status('POST', '/v1/containers/hostile/ports/70000')).toBe(400);
		expect(await status('POST', '/v1/containers/hostile/signal', JSON.stringify({ signal: 99 }))).toBe(400);
		expect(await status('POST', '/v1/containers/hostile/format-disk')).toBe(404);
		expect(await status('GET', '/v1/nothing-here')).toBe(404);
		// None of those started anything.
		expect(await engine.container('fresh').status()).toEqual({ running: false, exitCode: null });
	});

	it('refuses to start a container that is already running, and to open ports of one that is not', async () => {
		await expect(container.start()).rejects.toMatchObject({ status: 409, code: 'CONFLICT' });
		await expect(engine.container('never-started').port(3000)).rejects.toMatchObject({ status: 409, code: 'SANDBOX_STOPPED' });
	});
});
