/**
 * Capacity as visitors meet it (durable-objects/capacity.ts), with room for two sandboxes and a
 * 3 s grace: a start at capacity is refused at once when every sandbox is in use, reclaims the one
 * unused for longest otherwise (whose page then says why), makes room with the visitor's own other
 * sandbox first, and a stop gives its slot back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/host.ts';
import { servesExpress, startReady } from './expectations.ts';
import { sleep, startCoordinationWorker, type CoordinationWorker } from './harness.ts';

const GRACE_MS = 3_000;
let worker: CoordinationWorker;
const stamp = Date.now().toString(36);
const idOf = (name: string) => `room-${name}-${stamp}`;

beforeAll(async () => {
	worker = await startCoordinationWorker({
		// The engine has room for more: what refuses here is the count, at once.
		engineEnv: { SANDBOX_ENGINE_MAX: '4' },
		vars: { SANDBOX_MAX_INSTANCES: '2', SANDBOX_RECLAIM_AFTER_SECONDS: String(GRACE_MS / 1000) },
		ttlSeconds: 300
	});
}, 60_000);

afterAll(async () => {
	await worker?.stop();
});

/** What a visible tab's heartbeat does. */
const use = (...ids: string[]) => Promise.all(ids.map((id) => worker.coordinator(id, 'touch')));

describe('at capacity', () => {
	const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(idOf);

	it('a start is refused at once while every sandbox is in use, and boots nothing', async () => {
		await startReady(worker, a);
		await startReady(worker, b);
		await use(a, b);
		const reply = await worker.start(c);
		expect(reply).toMatchObject({ ok: false, status: 503, message: expect.stringMatching(/^All sandboxes are busy right now/) });
		expect(reply.ok === false && reply.retryAfterSeconds).toBeGreaterThanOrEqual(1);
		expect(await worker.status(c)).toBeNull();
		expect(worker.containers(c)).toEqual([]);
	}, 60_000);

	it('the sandbox unused for longest is reclaimed, says why, and the new one boots; the one in use is left alone', async () => {
		await sleep(GRACE_MS + 500);
		await use(b);
		const stateC = await startReady(worker, c);

		const stateA = (await worker.status(a))!.state;
		expect(stateA).toMatchObject({ status: 'stopped', previewUrl: null });
		expect(stateA.error?.message).toMatch(/^It was stopped to make room for another visitor, after \d+ seconds without use\.$/);
		await waitFor(() => worker.containerProcesses(a).length === 0, { timeout: 15_000, interval: 250 });
		expect((await worker.status(b))!.state.status).toBe('ready');
		const stateB = (await worker.status(b))!.state;
		await servesExpress(worker, stateB.previewUrl!, b);
		await servesExpress(worker, stateC.previewUrl!, c);
	}, 60_000);

	it("a visitor's own other sandbox makes room first, even while in use", async () => {
		await use(b, c);
		await startReady(worker, d, `visitor-of-${c}`);
		expect((await worker.status(c))!.state).toMatchObject({ status: 'stopped', error: { message: 'You started another sandbox, which replaced it.' } });
		expect((await worker.status(b))!.state.status).toBe('ready');
	}, 60_000);

	it('a stopped sandbox gives its slot back', async () => {
		await worker.coordinator(d, 'stop', ['test over']);
		await use(b);
		await startReady(worker, e);
		expect((await worker.status(b))!.state.status).toBe('ready');
		await worker.coordinator(b, 'stop', ['test over']);
		await worker.coordinator(e, 'stop', ['test over']);
	}, 60_000);
});
