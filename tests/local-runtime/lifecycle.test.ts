import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
	NAMED_SERVER,
	listeningPorts,
	liveProcesses,
	sandboxProcesses,
	scratchDir,
	startTestRuntime,
	waitFor,
	type TestRuntime
} from '../helpers/local-runtime.ts';

const HOST = 'localhost:5173';
let runtime: TestRuntime | undefined;

afterEach(async () => {
	await runtime?.stop();
	runtime = undefined;
});

/** The host directories of a runtime's sandboxes (each holds its disk image and mount point). */
function sandboxDirs(stateDir: string): string[] {
	const run = readdirSync(stateDir).find((entry) => entry.startsWith('run-'));
	const parent = run && join(stateDir, run, 'sandboxes');
	return parent && existsSync(parent) ? readdirSync(parent).map((key) => join(parent, key)) : [];
}

/** A file in the sandbox's /workspace, seen from the host through one of its processes. */
function workspaceFile(processes: { pid: number; cmdline: string }[], file: string): boolean {
	return processes.some((p) => p.cmdline.includes('node server.js') && existsSync(`/proc/${p.pid}/root/workspace/${file}`));
}

async function serve(rt: TestRuntime, id: string, sleepAfter?: string) {
	const sandbox = rt.backend.getSandbox(id, { sleepAfter });
	await sandbox.writeFile('/workspace/server.js', NAMED_SERVER);
	const process = await sandbox.startProcess('node server.js', { processId: 'web', env: { NAME: id } });
	await process.waitForPort(3001, { timeout: 10_000 });
	const { url } = await sandbox.exposePort(3001, { hostname: HOST });
	return { sandbox, url };
}

describe('destroy', () => {
	it('leaves no process, port or directory behind', async () => {
		runtime = await startTestRuntime();
		const { sandbox, url } = await serve(runtime, 'doomed');
		const before = sandboxProcesses(runtime.stateDir);
		const pids = before.processes.map((p) => p.pid);
		const ports = listeningPorts(pids);
		const [dir] = sandboxDirs(runtime.stateDir);
		// bwrap (outer and init), slirp4netns, the agent, bash and node.
		expect(before.processes.length).toBeGreaterThanOrEqual(4);
		expect(ports).toHaveLength(1);
		expect(workspaceFile(before.processes, 'server.js')).toBe(true);
		expect(readdirSync(dir)).toEqual(expect.arrayContaining(['disk.img', 'workspace']));

		await sandbox.destroy();

		expect(sandboxProcesses(runtime.stateDir, before.namespaces).processes).toEqual([]);
		expect(listeningPorts(pids)).toEqual([]);
		expect(spawnSync('ss', ['-Hltn', `sport = :${ports[0]}`], { encoding: 'utf8' }).stdout.trim()).toBe('');
		expect(existsSync(dir)).toBe(false);
		// The disk's mount went with the sandbox's mount namespace, and with it its loop device.
		await waitFor(() => !spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.includes(dir));
		// Its preview is gone for good: the tokens went with it.
		expect((await runtime.preview(url)).status).toBe(404);
	});

	it('starts one container however many calls race to wake a sandbox', async () => {
		runtime = await startTestRuntime();
		const sandbox = runtime.backend.getSandbox('racy');
		const results = await Promise.all(Array.from({ length: 6 }, (_, i) => sandbox.exec(`echo ${i}`)));
		expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n']);
		const slirps = sandboxProcesses(runtime.stateDir).processes.filter((p) => p.cmdline.startsWith('slirp4netns'));
		expect(slirps).toHaveLength(1);
		await sandbox.destroy();
	});
});

describe('sleepAfter', () => {
	it('stops an idle sandbox; its preview then answers 410 until the port is exposed again', async () => {
		runtime = await startTestRuntime();
		const { sandbox, url } = await serve(runtime, 'sleepy', '2s');
		const { namespaces } = sandboxProcesses(runtime.stateDir);
		expect((await runtime.preview(url)).status).toBe(200);

		await waitFor(() => sandboxProcesses(runtime!.stateDir, namespaces).processes.length === 0 && sandboxDirs(runtime!.stateDir).length === 0, {
			timeout: 6000
		});
		const stale = await runtime.preview(url);
		expect(stale.status).toBe(410);
		expect(await stale.json()).toMatchObject({ code: 'STALE_PREVIEW_URL' });
		expect(await sandbox.getExposedPorts(HOST)).toEqual([]);

		// Like a restarted container: a fresh filesystem, and the same URL once re-exposed.
		const { url: again } = await serve(runtime, 'sleepy', '2s');
		expect(again).toBe(url);
		expect((await runtime.preview(url)).status).toBe(200);
		await sandbox.destroy();
	});

	it('ends a preview response that the server inside cuts short, and lets the sandbox sleep', async () => {
		runtime = await startTestRuntime();
		const sandbox = runtime.backend.getSandbox('cutter', { sleepAfter: '2s' });
		// Hostile: promises 1000 bytes, sends 7, then drops the connection.
		await sandbox.writeFile(
			'/workspace/cut.js',
			`require('node:http').createServer((req, res) => { res.writeHead(200, { 'content-length': '1000' }); res.write('partial'); setTimeout(() => res.socket.destroy(), 50); }).listen(3001);`
		);
		await (await sandbox.startProcess('node cut.js', { processId: 'cut' })).waitForPort(3001, { timeout: 10_000 });
		const { url } = await sandbox.exposePort(3001, { hostname: HOST });
		const { namespaces } = sandboxProcesses(runtime.stateDir);
		const cut = await runtime.preview(url, { signal: AbortSignal.timeout(5000) });
		await expect(cut.text()).rejects.toThrow(/terminated/);
		// Nothing of that request is left in flight: the sandbox goes to sleep as idle.
		await waitFor(() => sandboxProcesses(runtime!.stateDir, namespaces).processes.length === 0, { timeout: 8000 });
		expect((await runtime.preview(url)).status).toBe(410);
		await sandbox.destroy();
	});

	it('counts preview traffic as activity', async () => {
		runtime = await startTestRuntime();
		const { sandbox, url } = await serve(runtime, 'busy', '2s');
		for (let i = 0; i < 8; i++) {
			expect((await runtime.preview(url)).status).toBe(200);
			await new Promise((resolve) => setTimeout(resolve, 500));
		}
		await sandbox.destroy();
	});
});

describe('capacity', () => {
	it('refuses a sandbox over the limit with a clear, retryable error and makes nothing', async () => {
		runtime = await startTestRuntime({ LOCAL_SANDBOX_MAX: '2' });
		const [one, two, three] = ['cap-one', 'cap-two', 'cap-three'].map((id) => runtime!.backend.getSandbox(id));
		await one.exec('true');
		await two.exec('true');

		await expect(three.exec('true')).rejects.toMatchObject({
			code: 'CAPACITY_EXCEEDED',
			retryable: true,
			message: expect.stringMatching(/Maximum number of running sandboxes exceeded \(2 of 2/)
		});
		const raw = await runtime.control('/v1/sandboxes/cap-three/exec', { method: 'POST', body: '{"command":"true"}' });
		expect(raw.status).toBe(503);
		expect(raw.headers.get('retry-after')).toBeTruthy();
		expect(sandboxDirs(runtime.stateDir)).toHaveLength(2);
		expect(sandboxProcesses(runtime.stateDir).processes.filter((p) => p.cmdline.startsWith('slirp4netns'))).toHaveLength(2);

		await one.destroy();
		expect((await three.exec('echo room')).stdout).toBe('room\n');
		await Promise.all([two.destroy(), three.destroy()]);
	});
});

describe('when the runtime dies', () => {
	it('leaves no sandbox process after SIGKILL, and the next run removes the stale workspaces', async () => {
		const first = await startTestRuntime();
		await serve(first, 'orphan-a');
		await serve(first, 'orphan-b');
		const before = sandboxProcesses(first.stateDir);
		expect(before.namespaces.size).toBe(2);
		const dirs = sandboxDirs(first.stateDir);
		expect(dirs).toHaveLength(2);

		first.child.kill('SIGKILL');
		await first.stop();

		await waitFor(() => sandboxProcesses(first.stateDir, before.namespaces).processes.length === 0, { timeout: 5000 });
		// Nothing stays mounted: the disks' mount namespaces ended with their last process.
		await waitFor(() => !spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.includes(first.stateDir));
		expect(dirs.every((dir) => existsSync(join(dir, 'disk.img')))).toBe(true);

		runtime = await startTestRuntime({ LOCAL_SANDBOX_STATE_DIR: first.stateDir });
		expect(dirs.some((dir) => existsSync(dir))).toBe(false);
		expect(runtime.output()).toContain('removing state of a crashed run');
	});

	it('destroys every sandbox and removes its state on SIGTERM', async () => {
		const rt = await startTestRuntime();
		await serve(rt, 'graceful');
		const before = sandboxProcesses(rt.stateDir);
		await rt.stop();
		expect(sandboxProcesses(rt.stateDir, before.namespaces).processes).toEqual([]);
		expect(readdirSync(rt.stateDir)).toEqual([]);
		expect(rt.output()).toMatch(/destroying 1 running sandbox/);
	});

	it('goes down with the launcher that started it, even when the launcher is killed', async () => {
		const scratch = scratchDir('launcher-');
		const stateDir = join(scratch, 'state');
		const script = join(scratch, 'app.ts');
		// The "app": starts a sandbox through the env the launcher hands it, then idles.
		writeFileSync(
			script,
			`import { createLocalBackend, localBackendConfigFrom } from '${process.cwd()}/src/lib/server/sandbox/local.ts';
			 const sandbox = createLocalBackend(localBackendConfigFrom(process.env)).getSandbox('launched');
			 await sandbox.startProcess('sleep 300', { processId: 'idle' });
			 console.log('APP READY');
			 setInterval(() => {}, 1000);`
		);
		const launcher = spawn(process.execPath, ['sandbox/local/launch.ts', process.execPath, script], {
			env: { ...process.env, LOCAL_SANDBOX_STATE_DIR: stateDir },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let output = '';
		launcher.stdout.on('data', (chunk) => (output += chunk));
		await waitFor(() => output.includes('APP READY'), { timeout: 20_000 });
		const before = sandboxProcesses(stateDir);
		expect(before.namespaces.size).toBe(1);

		launcher.kill('SIGKILL');
		await waitFor(() => sandboxProcesses(stateDir, before.namespaces).processes.length === 0, { timeout: 10_000 });
		await waitFor(() => readdirSync(stateDir).every((entry) => !entry.startsWith('run-')), { timeout: 10_000 });
		// The app itself is orphaned by a SIGKILLed launcher (nothing can forward that signal).
		for (const app of liveProcesses().filter((p) => p.cmdline.includes(script))) process.kill(app.pid, 'SIGKILL');
	});
});

describe('resource limits', () => {
	it('kills a process that outgrows the memory limit', async () => {
		runtime = await startTestRuntime({ LOCAL_SANDBOX_MEMORY_MB: '128' });
		const health = await (await runtime.control('/v1/health')).json();
		if (!health.limits.enforced) {
			console.warn(`memory limit not testable here: ${health.limits.reason}`);
			return;
		}
		const sandbox = runtime.backend.getSandbox('greedy');
		const hog = await sandbox.exec(`node -e 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1))'`, { timeout: 30_000 });
		expect(hog.exitCode).toBe(137);
		expect((await sandbox.exec('echo still here')).stdout).toBe('still here\n');
		await sandbox.destroy();
	});
});

describe('preflight', () => {
	it('refuses to start without bubblewrap or slirp4netns, naming the packages and the Docker alternative', () => {
		const result = spawnSync(process.execPath, ['sandbox/local/main.ts'], {
			env: { ...process.env, PATH: '/nonexistent' },
			encoding: 'utf8'
		});
		expect(result.status).toBe(1);
		expect(result.stderr).toContain('bwrap and slirp4netns not found');
		expect(result.stderr).toContain('apt-get install bubblewrap slirp4netns');
		expect(result.stderr).toMatch(/Docker/);
	});
});
