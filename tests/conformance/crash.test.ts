/**
 * Nothing outlives a crash: when the engine or wrangler is SIGKILLed with containers running,
 * no container process, port forward, network helper, disk or workerd is left behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { builtWorker, commandAfterBuild, scriptEnv } from '../helpers/build.ts';
import { liveProcesses, scratchDir, waitFor } from '../helpers/host.ts';
import { startConformanceWorker, type ConformanceWorker } from './harness.ts';

/** Live processes whose command line names the directory (containers, forwarders, slirp4netns). */
const processesOf = (dir: string) => liveProcesses().filter((p) => p.cmdline.includes(dir));
const loopDevicesOf = (dir: string) => execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(dir));

/**
 * A container's disk is detached by the kernel once its mount namespace is torn down, which goes on
 * after its processes have gone (a second or more on a busy machine): what counts is that it goes.
 */
async function expectNoLoopDevices(dir: string) {
	await waitFor(() => loopDevicesOf(dir).length === 0, { timeout: 15_000, interval: 200 }).catch(() => {});
	expect(loopDevicesOf(dir)).toEqual([]);
}

let worker: ConformanceWorker | undefined;

afterEach(async () => {
	await worker?.stop();
	worker = undefined;
});

describe('SIGKILL', () => {
	it('of the engine takes its containers, forwards and network helpers with it', async () => {
		worker = await startConformanceWorker();
		const stateDir = worker.stateDir!;
		for (const id of ['crash-one', 'crash-two']) {
			await worker.call(id, 'startProcess', ['node -e "require(\'http\').createServer((q, s) => s.end(\'up\')).listen(3001)"', { processId: 'web' }]);
			expect((await worker.call(id, 'exposePort', [3001, { hostname: worker.host, token: 'crash' }])).error).toBeUndefined();
		}
		const running = processesOf(stateDir);
		expect(running.filter((p) => p.cmdline.includes('port-forwarder.mjs'))).toHaveLength(2);
		expect(running.filter((p) => p.cmdline.startsWith('slirp4netns'))).toHaveLength(2);

		worker.engine!.child.kill('SIGKILL');
		await waitFor(() => processesOf(stateDir).length === 0, { timeout: 10_000 });
		await expectNoLoopDevices(stateDir);
	});

	it('of wrangler under `npm run preview` ends workerd and the engine, and with them every container', async () => {
		const stateDir = scratchDir('crash-preview-');
		const port = 8796;
		// The script a developer runs, after its build (this run's: helpers/build.ts).
		await builtWorker();
		const preview = spawn(`${commandAfterBuild('preview')} --port ${port}`, {
			shell: true,
			env: scriptEnv({ ...process.env, SANDBOX_ENGINE_STATE_DIR: stateDir }),
			stdio: 'ignore'
		});
		const exited = new Promise((resolve) => preview.once('exit', resolve));
		try {
			const app = `http://localhost:${port}`;
			const home = (await waitFor(() => fetch(`${app}/`).then((r) => (r.ok ? r : null), () => null), { timeout: 90_000, interval: 250 }))!;
			const cookie = home.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
			const started = await fetch(`${app}/?/start`, {
				method: 'POST',
				headers: { cookie, origin: app, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
				body: 'template=express',
				redirect: 'manual'
			});
			expect(started.status).toBe(303);
			await waitFor(() => processesOf(stateDir).some((p) => p.cmdline.includes('port-forwarder.mjs')), { timeout: 30_000 });
			const workerd = () => liveProcesses().filter((p) => p.cmdline.includes('workerd serve') && p.cmdline.includes(`:${port}`));
			expect(workerd().length).toBeGreaterThan(0);

			// The process that runs wrangler (dev/wrangler-worker.ts), workerd's parent.
			const wrangler = liveProcesses().find((p) => p.cmdline.includes('dev/wrangler-worker.ts') && p.cmdline.includes(`--port ${port}`));
			process.kill(wrangler!.pid, 'SIGKILL');
			await exited;
			await waitFor(() => processesOf(stateDir).length === 0 && workerd().length === 0, { timeout: 10_000 });
			await expectNoLoopDevices(stateDir);
		} finally {
			preview.kill('SIGTERM');
		}
	}, 240_000);
});
