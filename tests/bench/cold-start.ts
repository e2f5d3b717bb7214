/**
 * Cold start to the first HTTP byte of `node server.js`: spawned on the host, and in a new sandbox of
 * the local runtime (the one `vite dev` uses) through its preview route. Runs alternate, so that a
 * machine slowing down mid-run weighs on both alike.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime } from '../../sandbox/local/launch.ts';
import { PREVIEW_HOST_HEADER } from '../../sandbox/local/protocol.ts';
import { createLocalBackend } from '../../src/lib/server/sandbox/local.ts';
import { NAMED_SERVER } from '../helpers/local-runtime.ts';
import { freePort } from '../helpers/ports.ts';
import { firstOk } from './http.ts';
import { msRow, ratioRow, tick, type Row } from './stats.ts';

async function plainRun(dir: string): Promise<number> {
	const port = await freePort();
	const start = performance.now();
	const child = spawn(process.execPath, ['server.js'], { cwd: dir, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
	const end = await firstOk(port);
	child.kill('SIGKILL');
	await new Promise((resolve) => child.once('exit', resolve));
	return end - start;
}

async function sandboxedRun(backend: ReturnType<typeof createLocalBackend>, runtimeUrl: string, id: string) {
	const sandbox = backend.getSandbox(id);
	const start = performance.now();
	await sandbox.writeFile('/workspace/server.js', NAMED_SERVER); // wakes a fresh container
	const booted = performance.now();
	await sandbox.startProcess('node server.js', { processId: 'web' });
	const { url } = await sandbox.exposePort(3001, { hostname: 'localhost:5173' });
	const end = await firstOk(Number(new URL(runtimeUrl).port), { headers: { [PREVIEW_HOST_HEADER]: new URL(url).host } });
	await sandbox.destroy();
	return { total: end - start, boot: booted - start };
}

export async function benchColdStart(runs: number): Promise<Row[]> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-plain-'));
	writeFileSync(join(dir, 'server.js'), NAMED_SERVER);
	const runtime = await startLocalRuntime({ output: 'capture' });
	const backend = createLocalBackend(runtime);
	const plain: number[] = [];
	const sandboxed: number[] = [];
	const boot: number[] = [];
	try {
		// One unmeasured round of each warms the page cache for both.
		await plainRun(dir);
		await sandboxedRun(backend, runtime.url, 'bench-warmup');
		for (let i = 0; i < runs; i++) {
			plain.push(await plainRun(dir));
			const run = await sandboxedRun(backend, runtime.url, `bench-${i}`);
			sandboxed.push(run.total);
			boot.push(run.boot);
			tick();
		}
	} finally {
		await runtime.stop();
		rmSync(dir, { recursive: true, force: true });
	}
	return [
		msRow('plain: spawn on the host', plain),
		msRow('sandboxed: new sandbox → preview first byte', sandboxed),
		msRow('  of which sandbox boot (bwrap + slirp + agent)', boot),
		ratioRow('ratio sandboxed / plain', sandboxed, plain)
	];
}
