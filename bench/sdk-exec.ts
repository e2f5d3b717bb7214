/**
 * New container → first exec through the SDK in workerd, as the app in `npm run preview` meets it:
 * the conformance worker (the SDK's own `Sandbox` Durable Object over the local engine) gets
 * `exec('true')` for a sandbox ID it has never seen — the Durable Object, the container's start and
 * its control server all lie on that call's path.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startConformanceWorker, type ConformanceWorker } from '../tests/conformance/harness.ts';
import { msRow, tick, type Row } from './stats.ts';

/** For scale, from outside this project. */
const PUBLIC_FIGURES =
	'  for scale: a public benchmark of sandbox providers measured create → first command at p50 186 ms for the fastest and 2.06 s for Cloudflare';

async function firstExec(worker: ConformanceWorker, id: string): Promise<number> {
	const start = performance.now();
	const result = await worker.call(id, 'exec', ['true']);
	const ms = performance.now() - start;
	const { exitCode } = (result.value ?? {}) as { exitCode?: number };
	if (exitCode !== 0) throw new Error(`exec('true') in ${id} answered ${JSON.stringify(result)}\n${worker.output().slice(-4000)}`);
	// Its slot back before the next run (the harness's engine runs a few containers only).
	await worker.call(id, 'destroy');
	return ms;
}

/** Starts the conformance worker with its scratch directories in one place of our own, removed after. */
async function withConformanceWorker<T>(use: (worker: ConformanceWorker) => Promise<T>): Promise<T> {
	const scratch = mkdtempSync(join(tmpdir(), 'bench-sdk-'));
	chmodSync(scratch, 0o711); // as the test suite's: a runtime running as root passes it on to the sandboxes' uid
	const inherited = process.env.SANDBOX_TEST_DIR;
	process.env.SANDBOX_TEST_DIR = scratch;
	try {
		const worker = await startConformanceWorker({ sdkLogLevel: 'info' });
		try {
			return await use(worker);
		} finally {
			await worker.stop();
		}
	} finally {
		if (inherited === undefined) delete process.env.SANDBOX_TEST_DIR;
		else process.env.SANDBOX_TEST_DIR = inherited;
		rmSync(scratch, { recursive: true, force: true });
	}
}

export async function benchSdkExec(runs: number): Promise<Row[]> {
	const times = await withConformanceWorker(async (worker) => {
		// Unmeasured: workerd loads the worker and the Durable Object class on first use.
		await firstExec(worker, 'bench-exec-warmup');
		const measured: number[] = [];
		for (let i = 0; i < runs; i++) {
			measured.push(await firstExec(worker, `bench-exec-${i}`));
			tick();
		}
		return measured;
	});
	return [msRow("SDK in workerd: new container → first exec('true') returned", times), [PUBLIC_FIGURES]];
}
