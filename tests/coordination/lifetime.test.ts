/**
 * A sandbox's life over time, in workerd over real containers (as coordinator.test.ts): a boot
 * longer than any request carries on by itself; the idle TTL stops a sandbox nobody uses, and
 * what counts as use (status reads, preview visits; not an open status socket). The tests mostly
 * wait, each on its own sandbox: they run side by side.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerGone, newId, servesExpress, startReady } from './expectations.ts';
import { sleep, startCoordinationWorker, TTL_MS, type CoordinationWorker } from './harness.ts';

let worker: CoordinationWorker;

beforeAll(async () => {
	worker = await startCoordinationWorker();
}, 120_000);

afterAll(async () => {
	await worker?.stop();
});

describe.concurrent('time', () => {
	it('a template whose server needs 40 s to listen reaches ready, with no request in flight meanwhile', async () => {
		const id = newId('slow');
		const started = await worker.start(id, { template: 'slow' });
		expect(started.ok && started.state.status).toBe('initializing');
		// Nobody asks meanwhile: the boot must carry on by itself (the wait ends, on a loaded machine,
		// with reads until it has settled; a boot that had died would be resumed, and say so).
		await sleep(46_000);
		const state = await worker.settled(id);
		expect(state).toMatchObject({ status: 'ready', error: null });
		expect(state.steps.at(-2)).toMatchObject({ label: 'Waiting for the server to answer', state: 'done' });
		expect(state.steps.at(-2)!.durationMs).toBeGreaterThan(35_000);
		expect(worker.workerLog()).not.toContain(`resuming the boot of ${id}`);
		await servesExpress(worker, state.previewUrl!, id);
		await worker.coordinator(id, 'stop', ['test over']);
	}, 90_000);

	it('a sandbox nobody uses is stopped after the TTL: its containers are gone and its preview URL serves no more', async () => {
		const id = newId('idle');
		const state = await startReady(worker, id);
		await servesExpress(worker, state.previewUrl!, id);
		await sleep(TTL_MS + 5_000);
		const reply = await worker.status(id);
		expect(reply?.state).toMatchObject({ status: 'stopped', previewUrl: null });
		expect(reply!.state.error?.message).toMatch(/without use/);
		await containerGone(worker, id);

		// Its token is forgotten with the container.
		const response = await worker.preview(state.previewUrl!);
		expect(response.status, response.body).toBe(404);
		expect(response.body).not.toContain('Hello from sandbox');
		// Nor does asking for it wake a container up.
		await sleep(3_000);
		expect(worker.containerProcesses(id)).toEqual([]);
		expect((await worker.status(id))?.state.status).toBe('stopped');
	}, 60_000);

	it('a sandbox whose status is read stays up past twice the TTL, and is stopped once the reads stop', async () => {
		const id = newId('kept');
		const state = await startReady(worker, id);
		const until = Date.now() + 2 * TTL_MS + 2_000;
		while (Date.now() < until) {
			await sleep(TTL_MS / 3);
			expect((await worker.status(id))?.state.status).toBe('ready');
		}
		await servesExpress(worker, state.previewUrl!, id);
		expect(worker.containers(id)).toHaveLength(1);

		await sleep(TTL_MS + 5_000);
		const reply = await worker.status(id);
		expect(reply?.state.status).toBe('stopped');
		expect(reply!.state.error?.message).toMatch(/without use/);
		await containerGone(worker, id);
	}, 90_000);

	it('a sandbox whose preview is visited stays up past twice the TTL, with no status read', async () => {
		const id = newId('visited');
		const state = await startReady(worker, id);
		const until = Date.now() + 2 * TTL_MS + 2_000;
		while (Date.now() < until) {
			await sleep(TTL_MS / 3);
			await servesExpress(worker, state.previewUrl!, id);
		}
		expect((await worker.status(id))?.state.status).toBe('ready');
		expect(worker.containers(id)).toHaveLength(1);
		await worker.coordinator(id, 'stop', ['test over']);
	}, 60_000);

	it('an open status socket alone does not keep a sandbox up', async () => {
		const id = newId('socket-idle');
		await startReady(worker, id);
		const socket = await worker.socket(id);
		expect((await socket.next(() => true)).type).toBe('ready');
		const stopped = await socket.next((message) => message.type === 'stopped', TTL_MS + 10_000);
		expect(stopped.state).toMatchObject({ id, status: 'stopped', previewUrl: null });
		expect(stopped.state.error?.message).toMatch(/without use/);
		expect((await socket.closed).code).toBe(1000);
		expect((await worker.status(id))?.state.status).toBe('stopped');
		await containerGone(worker, id);
	}, 60_000);
});
