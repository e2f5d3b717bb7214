/**
 * A full engine that the app did not count (no SANDBOX_MAX_INSTANCES, or one above what the
 * platform can run: the safety net behind capacity.ts, see reclaim.test.ts): with room for one
 * container only, a second sandbox is told within the coordinator's container-start deadline that
 * every sandbox is busy — not after the SDK's own retries (120 s and more) — and it leaves no
 * container behind, then or later, while the first one keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSnapshot } from '../../src/lib/sandbox-state.ts';
import { CONTAINER_START_DEADLINE_MS } from '../../src/lib/server/durable-objects/boot.ts';
import { waitFor } from '../helpers/host.ts';
import { servesExpress } from './expectations.ts';
import { sleep, startCoordinationWorker, type CoordinationWorker } from './harness.ts';

let worker: CoordinationWorker;

const stamp = Date.now().toString(36);
/** Ready first, filling the engine. */
const a = `full-a-${stamp}`;
/** Started while A runs. */
const b = `full-b-${stamp}`;
let stateA: SandboxSnapshot;
let stateB: SandboxSnapshot;
/** From B's start() until its status said it had failed. */
let waitedMs: number;

beforeAll(async () => {
	// A long TTL: sandbox A must not go idle (freeing the engine) while B waits.
	worker = await startCoordinationWorker({ engineEnv: { SANDBOX_ENGINE_MAX: '1' }, ttlSeconds: 300 });
	await worker.start(a);
	stateA = await worker.settled(a);
	expect(stateA, JSON.stringify(stateA)).toMatchObject({ status: 'ready' });

	const startedAt = Date.now();
	await worker.start(b);
	stateB = await worker.settled(b, CONTAINER_START_DEADLINE_MS + 15_000);
	waitedMs = Date.now() - startedAt;
}, 120_000);

afterAll(async () => {
	await worker?.stop();
});

describe('a start on a full engine', () => {
	it('fails within the container-start deadline, and no container for it appears while the engine is full', async () => {
		expect(stateB, JSON.stringify(stateB)).toMatchObject({ status: 'error', previewUrl: null, error: { retryable: true } });
		// The deadline is the behaviour: the visitor is told within it (and a little), not after the SDK's retries.
		expect(waitedMs).toBeLessThan(CONTAINER_START_DEADLINE_MS + 5_000);
		expect(stateB.steps.at(-1)).toMatchObject({ label: 'Starting the sandbox', state: 'failed' });

		await sleep(10_000);
		expect(worker.containerProcesses(b)).toEqual([]);
		expect(worker.engineLog()).not.toContain(`container ${b} started`);
		expect((await worker.status(b))?.state.status).toBe('error');
		// The first sandbox is untouched.
		expect(worker.containers(a)).toHaveLength(1);
		await servesExpress(worker, stateA.previewUrl!, a);
	}, 30_000);

	it('tells the visitor that all sandboxes are busy', () => {
		expect(stateB.error?.message).toMatch(/^All sandboxes are busy right now/);
	});

	// The SDK goes on trying to start B's container after the deadline (nothing can stop its retries):
	// once the engine has room, the coordinator stops the late container within its sweep interval.
	it('stops a container for it that starts once the engine has room again, and the room goes to a new sandbox', async () => {
		await worker.coordinator(a, 'stop', ['test over']);
		await waitFor(() => worker.containerProcesses(a).length === 0, { timeout: 15_000, interval: 250 });
		await sleep(10_000);
		expect(worker.containerProcesses(b)).toEqual([]);

		const c = `full-c-${stamp}`;
		await worker.start(c);
		const stateC = await worker.settled(c);
		expect(stateC, JSON.stringify(stateC)).toMatchObject({ status: 'ready' });
		await servesExpress(worker, stateC.previewUrl!, c);
		await worker.coordinator(c, 'stop', ['test over']);
	}, 90_000);
});
