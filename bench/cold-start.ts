/**
 * Cold start to the first HTTP byte of `node server.js`: spawned on the host, and in a new container
 * of the local engine, driven over its container API as the SDK's Durable Object drives it (start
 * the container, write the file and start the process through its control server, open the port,
 * ask it until it answers). Runs alternate, so that a machine slowing down mid-run weighs on both
 * alike. What workerd and the SDK add on top is sdk-exec.ts's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKEN_HEADER } from '../engine/forwarded-head.ts';
import { NAMED_SERVER, startTestEngine, type TestEngine } from '../tests/helpers/engine.ts';
import { scratchDir } from '../tests/helpers/host.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { firstOk } from './http.ts';
import { msRow, ratioRow, tick, type Row } from './stats.ts';

const APP_PORT = 3001;

async function plainRun(dir: string): Promise<number> {
	const port = await freePort();
	const start = performance.now();
	const child = spawn(process.execPath, ['server.js'], { cwd: dir, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
	const end = await firstOk(port);
	child.kill('SIGKILL');
	await new Promise((resolve) => child.once('exit', resolve));
	return end - start;
}

async function containerRun(engine: TestEngine, name: string) {
	const start = performance.now();
	const container = await engine.createContainer(name, { enableInternet: false }); // resolves once its control server listens
	const booted = performance.now();
	try {
		const written = await container.writeFile('/workspace/server.js', NAMED_SERVER);
		if (written.status !== 200) throw new Error(`writing server.js answered ${written.status}: ${JSON.stringify(written.body)}`);
		await container.startProcess('node server.js', { cwd: '/workspace', env: { PORT: String(APP_PORT) } });
		const { hostPort, token } = await container.port(APP_PORT);
		const end = await firstOk(hostPort, { headers: { [TOKEN_HEADER]: token } });
		return { total: end - start, boot: booted - start };
	} finally {
		await container.destroy();
	}
}

export async function benchColdStart(runs: number): Promise<Row[]> {
	const dir = mkdtempSync(join(tmpdir(), 'bench-plain-'));
	writeFileSync(join(dir, 'server.js'), NAMED_SERVER);
	const stateDir = scratchDir('bench-engine-');
	const engine = await startTestEngine({ SANDBOX_ENGINE_STATE_DIR: stateDir });
	const plain: number[] = [];
	const contained: number[] = [];
	const boot: number[] = [];
	try {
		// One unmeasured round of each warms the page cache for both.
		await plainRun(dir);
		await containerRun(engine, 'bench-warmup');
		for (let i = 0; i < runs; i++) {
			plain.push(await plainRun(dir));
			const run = await containerRun(engine, `bench-${i}`);
			contained.push(run.total);
			boot.push(run.boot);
			tick();
		}
	} catch (error) {
		throw new Error(`${(error as Error).message}\n--- the engine's output, last part:\n${engine.output().slice(-3000)}`, { cause: error });
	} finally {
		await engine.stop();
		rmSync(dir, { recursive: true, force: true });
		rmSync(stateDir, { recursive: true, force: true });
	}
	return [
		msRow('plain: spawn on the host → first byte', plain),
		msRow('engine: new container → first byte via its forwarded port', contained),
		msRow('  of which the container start (bwrap, slirp, control server)', boot),
		ratioRow('ratio engine / plain', contained, plain)
	];
}
