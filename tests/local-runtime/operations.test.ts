import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/lib/server/sandbox/types.ts';
import { NAMED_SERVER, fetchInside, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

let runtime: TestRuntime;
let sandbox: Sandbox;

beforeAll(async () => {
	runtime = await startTestRuntime();
	sandbox = runtime.backend.getSandbox('ops-test');
});
afterAll(async () => {
	await sandbox?.destroy();
	await runtime?.stop();
});

describe('exec', () => {
	it('runs a command in /workspace with Node 24 and reports its output and exit code', async () => {
		const result = await sandbox.exec('pwd; node --version; echo oops >&2; exit 3');
		expect(result.exitCode).toBe(3);
		expect(result.success).toBe(false);
		expect(result.stdout).toMatch(/^\/workspace\nv24\./);
		expect(result.stderr).toBe('oops\n');
		expect(result.duration).toBeGreaterThanOrEqual(0);
	});

	it('honours cwd and env', async () => {
		await sandbox.mkdir('/workspace/sub/dir', { recursive: true });
		const result = await sandbox.exec('pwd; echo "$GREETING"', { cwd: '/workspace/sub/dir', env: { GREETING: 'hi there' } });
		expect(result).toMatchObject({ success: true, exitCode: 0, stdout: '/workspace/sub/dir\nhi there\n' });
	});

	it('refuses a working directory that does not exist', async () => {
		await expect(sandbox.exec('pwd', { cwd: '/workspace/missing' })).rejects.toMatchObject({
			code: 'INVALID_REQUEST',
			message: 'The working directory /workspace/missing does not exist'
		});
		await expect(sandbox.startProcess('pwd', { cwd: '/workspace/missing' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
	});

	it('kills a command at its timeout, including the processes it started', async () => {
		await expect(sandbox.exec('sleep 30 & sleep 30', { timeout: 300 })).rejects.toMatchObject({ code: 'EXEC_TIMEOUT' });
		const { stdout } = await sandbox.exec('cat /proc/[0-9]*/comm');
		expect(stdout).toContain('cat');
		expect(stdout).not.toContain('sleep');
	});

	it('returns when the command exits, even if a process it left in the background holds its output open', async () => {
		// Longer than the test's timeout: a call waiting for the pipes to close would fail the test.
		const result = await sandbox.exec('sleep 300 & echo $! > /tmp/background.pid; echo started');
		expect(result).toMatchObject({ success: true, stdout: 'started\n' });
		await sandbox.exec('kill "$(cat /tmp/background.pid)"');
	});

	it('sees a read-only system and its own hostname', async () => {
		const result = await sandbox.exec('hostname; touch /usr/x 2>&1; echo $HOME');
		expect(result.stdout).toContain('sandbox\n');
		expect(result.stdout).toMatch(/Read-only file system/);
		expect(result.stdout).toContain('/workspace\n');
	});
});

describe('files', () => {
	it('writes, reads and lists files under /workspace and /tmp', async () => {
		await sandbox.writeFile('/workspace/hello.txt', 'héllo wörld\n');
		expect(await sandbox.readFile('/workspace/hello.txt')).toEqual({ content: 'héllo wörld\n' });
		await sandbox.writeFile('/tmp/bytes.bin', Buffer.from([0, 1, 2, 255]).toString('base64'), { encoding: 'base64' });
		expect((await sandbox.readFile('/tmp/bytes.bin', { encoding: 'base64' })).content).toBe('AAEC/w==');
		const { stdout } = await sandbox.exec('cat /workspace/hello.txt; wc -c < /tmp/bytes.bin');
		expect(stdout).toBe('héllo wörld\n4\n');
	});

	it('reports a missing file clearly', async () => {
		await expect(sandbox.readFile('/workspace/nope.txt')).rejects.toMatchObject({
			code: 'FILE_NOT_FOUND',
			message: expect.stringContaining('/workspace/nope.txt')
		});
	});

	it.each([
		['a path with ..', '/workspace/../etc/passwd'],
		['a relative path', 'hello.txt'],
		['a path outside the writable roots', '/etc/passwd'],
		['the runtime files', '/opt/sandbox-agent/agent.mjs']
	])('refuses %s', async (_, path) => {
		await expect(sandbox.readFile(path)).rejects.toMatchObject({ code: 'PATH_NOT_ALLOWED' });
		await expect(sandbox.writeFile(path, 'x')).rejects.toMatchObject({ code: 'PATH_NOT_ALLOWED' });
	});

	it('refuses to follow a symlink out of the workspace, for reads, writes and mkdir', async () => {
		await sandbox.exec('ln -s /etc /workspace/etc-link && ln -s /usr/bin/node /workspace/node-link');
		await expect(sandbox.readFile('/workspace/etc-link/passwd')).rejects.toMatchObject({ code: 'PATH_NOT_ALLOWED' });
		await expect(sandbox.writeFile('/workspace/node-link', 'x')).rejects.toMatchObject({ code: 'PATH_NOT_ALLOWED' });
		await expect(sandbox.mkdir('/workspace/etc-link/new', { recursive: true })).rejects.toMatchObject({
			code: 'PATH_NOT_ALLOWED'
		});
	});

	it('follows a symlink that stays inside the workspace', async () => {
		await sandbox.writeFile('/workspace/real.txt', 'real');
		await sandbox.exec('ln -s real.txt /workspace/alias.txt');
		expect(await sandbox.readFile('/workspace/alias.txt')).toEqual({ content: 'real' });
	});
});

describe('processes', () => {
	it('starts a background process once per processId, with status, logs and kill', async () => {
		await sandbox.writeFile('/workspace/server.js', NAMED_SERVER);
		const first = await sandbox.startProcess('echo booting; node server.js', { processId: 'web', env: { NAME: 'ops' } });
		const again = await sandbox.startProcess('node server.js', { processId: 'web' });
		expect(again.pid).toBe(first.pid);
		await first.waitForPort(3001, { path: '/', timeout: 10_000 });

		expect(JSON.parse(await fetchInside(sandbox, 'http://localhost:3001/inside'))).toMatchObject({
			name: 'ops',
			path: '/inside'
		});
		expect(await first.getStatus()).toBe('running');
		expect((await first.getLogs()).stdout).toBe('booting\n');
		expect((await sandbox.listProcesses()).map((p) => p.id)).toContain('web');

		await first.kill();
		expect(await first.getStatus()).toBe('killed');
		expect(await fetchInside(sandbox, 'http://localhost:3001/')).toBe('ECONNREFUSED');
	});

	it('fails waitForPort when the process exits first, with its output', async () => {
		const crashing = await sandbox.startProcess('echo "cannot boot" >&2; exit 7', { processId: 'crash' });
		await expect(crashing.waitForPort(3002, { timeout: 10_000 })).rejects.toMatchObject({
			code: 'PROCESS_EXITED_BEFORE_READY',
			message: expect.stringContaining('cannot boot')
		});
		expect(await sandbox.getProcess('crash')).toMatchObject({ status: 'failed', exitCode: 7 });
	});

	it('fails waitForPort at its timeout', async () => {
		const idle = await sandbox.startProcess('sleep 60', { processId: 'idle' });
		await expect(idle.waitForPort(3003, { timeout: 600, interval: 100 })).rejects.toMatchObject({ code: 'PROCESS_READY_TIMEOUT' });
		await idle.kill('SIGKILL');
	});

	it('kills a process that ignores SIGTERM with SIGKILL after a grace period', async () => {
		const stubborn = await sandbox.startProcess(`trap '' TERM; echo ready; while true; do sleep 0.1; done`, { processId: 'stubborn' });
		await expect.poll(async () => (await stubborn.getLogs()).stdout).toBe('ready\n');
		await stubborn.kill();
		expect(await sandbox.getProcess('stubborn')).toMatchObject({ status: 'killed' });
		expect((await sandbox.exec('cat /proc/[0-9]*/comm')).stdout).not.toContain('sleep');
	});

	it('answers null for an unknown process', async () => {
		expect(await sandbox.getProcess('never-started')).toBeNull();
	});
});

describe('validation', () => {
	it.each([
		['an ID with a leading hyphen', '-bad'],
		['an ID longer than 63 characters', 'a'.repeat(64)],
		['a reserved ID', 'admin'],
		['an ID with a dot', 'a.b']
	])('refuses %s before calling the runtime', (_, id) => {
		expect(() => runtime.backend.getSandbox(id)).toThrow(/sandbox ID/);
	});

	it('normalizes IDs to lowercase', () => {
		expect(runtime.backend.getSandbox('MixedCase').id).toBe('mixedcase');
	});

	it.each([
		[3000, 'reserved'],
		[80, 'below 1024'],
		[70000, 'at most 65535']
	])('refuses to expose port %i (%s)', async (port, reason) => {
		await expect(sandbox.exposePort(port, { hostname: 'localhost:5173' })).rejects.toMatchObject({
			code: 'INVALID_REQUEST',
			message: expect.stringContaining(reason)
		});
	});

	it.each(['has-hyphen', 'UPPER', 'a'.repeat(17), ''])('refuses the token "%s"', async (token) => {
		await expect(sandbox.exposePort(3001, { hostname: 'localhost:5173', token })).rejects.toMatchObject({
			code: 'INVALID_REQUEST'
		});
	});

	it('refuses a workers.dev hostname, as the SDK does', async () => {
		await expect(sandbox.exposePort(3001, { hostname: 'app.example.workers.dev' })).rejects.toMatchObject({
			message: expect.stringContaining('custom domain')
		});
	});

	it('answers malformed requests with 400 and unknown endpoints with 404', async () => {
		const notJson = await runtime.control('/v1/sandboxes/ops-test/exec', { method: 'POST', body: '{' });
		expect(notJson.status).toBe(400);
		const unknownField = await runtime.control('/v1/sandboxes/ops-test/exec', {
			method: 'POST',
			body: JSON.stringify({ command: 'true', shell: 'zsh' })
		});
		expect(unknownField.status).toBe(400);
		expect((await unknownField.json()).error.code).toBe('INVALID_REQUEST');
		expect((await runtime.control('/v1/sandboxes/ops-test/format-disk', { method: 'POST' })).status).toBe(404);
		expect((await runtime.control('/v1/sandboxes/ops-test/exec', { method: 'GET' })).status).toBe(405);
		expect((await runtime.control('/v1/sandboxes/%E0%A4%A/exec', { method: 'POST', body: '{}' })).status).toBe(400);
	});
});

describe('guards', () => {
	it('refuses control calls without the bearer secret', async () => {
		const response = await fetch(`${runtime.url}/v1/health`, { headers: { authorization: 'Bearer wrong' } });
		expect(response.status).toBe(401);
		expect((await response.json()).error.code).toBe('UNAUTHORIZED');
	});

	it('refuses requests whose Host is not its own address (DNS rebinding)', async () => {
		const { port } = new URL(runtime.url);
		// fetch cannot forge Host, so speak HTTP directly, as a rebinding page's browser would.
		const { createConnection } = await import('node:net');
		const reply = await new Promise<string>((resolve) => {
			const socket = createConnection(Number(port), '127.0.0.1', () => {
				socket.end(`GET /v1/health HTTP/1.1\r\nHost: attacker.example:${port}\r\nAuthorization: Bearer ${runtime.secret}\r\n\r\n`);
			});
			let text = '';
			socket.on('data', (chunk) => (text += chunk));
			socket.on('close', () => resolve(text));
		});
		expect(reply).toMatch(/^HTTP\/1\.1 403/);
		expect(reply).toContain('HOST_NOT_ALLOWED');
	});

	it('reports its capacity and limits', async () => {
		const health = await (await runtime.control('/v1/health')).json();
		expect(health.sandboxes).toEqual({ running: 1, max: 4 });
		expect(typeof health.limits.enforced).toBe('boolean');
	});
});
