/**
 * The warm pool (durable-objects/pool.ts) in workerd, over real containers: Express keeps one
 * sandbox started ahead of visitors, in a deployment with room for three. A visitor's start takes
 * it — ready at once, theirs alone, never offered again — and the pool starts another; two
 * visitors racing for the last one get different sandboxes; and a full machine runs visitors,
 * not the pool. A pooled sandbox that nobody claims is replaced after its pool TTL. A visitor with
 * saved edits of the template gets them in the sandbox they claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolMember } from '../../src/lib/server/durable-objects/contract.ts';
import { waitFor } from '../helpers/host.ts';
import { readyState, servesExpress } from './expectations.ts';
import { startCoordinationWorker, type CoordinationWorker } from './harness.ts';

const limits = { perVisitor: 10, perNetwork: 100, liveAtNetwork: 100 };
let counter = 0;
const newVisitor = () => `pool-visitor-${Date.now().toString(36)}-${++counter}`;

async function startWorker(vars: Record<string, string>) {
	return startCoordinationWorker({ engineEnv: { SANDBOX_ENGINE_MAX: '6' }, vars: { SANDBOX_POOL_SIZE: 'express=1', ...vars }, ttlSeconds: 300 });
}

/** The pool's ready members, once it has `count` of them. */
async function readyMembers(worker: CoordinationWorker, count: number, template = 'express'): Promise<string[]> {
	let members: PoolMember[] = [];
	await waitFor(
		async () => {
			members = await worker.pool<PoolMember[]>(template, 'members');
			return members.length === count && members.every((member) => member.ready);
		},
		{ timeout: 60_000, interval: 250 }
	).catch(() => {
		throw new Error(`the pool has ${JSON.stringify(members)}, not ${count} ready:\n${worker.output()}`);
	});
	return members.map((member) => member.sandboxId);
}

async function started(worker: CoordinationWorker, visitor: string, template = 'express'): Promise<string> {
	const reply = await worker.gateStart(visitor, { limits, template });
	if (!reply.ok) throw new Error(`refused: ${JSON.stringify(reply)}`);
	return reply.id;
}

describe('a warm pool', () => {
	let worker: CoordinationWorker;

	beforeAll(async () => {
		worker = await startWorker({ SANDBOX_MAX_INSTANCES: '3', SANDBOX_RECLAIM_AFTER_SECONDS: '300' });
	}, 60_000);

	afterAll(async () => {
		await worker?.stop();
	});

	it('starts its sandboxes when asked to fill, up to its size and no further', async () => {
		expect(await worker.pool('express', 'members')).toEqual([]);
		await worker.pool('express', 'fill', ['express']);
		await worker.pool('express', 'fill', ['express']);
		const [member] = await readyMembers(worker, 1);
		expect(worker.runningSandboxes()).toEqual([member]);
		// Nobody's yet: no visitor sees it.
		expect(await worker.status(member, { visitor: newVisitor() })).toBeNull();
		// A template without a pool has none.
		await worker.pool('vue', 'fill', ['vue']);
		expect(await worker.pool('vue', 'members')).toEqual([]);
	}, 90_000);

	it("gives a visitor's start its ready sandbox, which is theirs alone, is never offered again, and is replaced", async () => {
		const [member] = await readyMembers(worker, 1);
		const visitor = newVisitor();
		const id = await started(worker, visitor);
		expect(id).toBe(member);

		const state = await readyState(worker, id);
		await servesExpress(worker, state.previewUrl!, id);
		// The steps its pool's boot made show as done at once; the preview was made for the visitor.
		expect(state.steps.at(-1)).toMatchObject({ label: 'Exposing the preview URL', state: 'done' });
		const pooledSteps = state.steps.slice(0, -1);
		expect(pooledSteps.map((step) => step.durationMs)).toEqual(pooledSteps.map(() => 0));
		expect(state.steps.map((step) => step.label)).toContain('Starting the sandbox');
		expect(await worker.coordinator(id, 'ownedBy', [visitor])).toBe(true);
		expect(await worker.status(id, { visitor: newVisitor() })).toBeNull();

		const [next] = await readyMembers(worker, 1);
		expect(next).not.toBe(id);
		expect(await started(worker, newVisitor())).toBe(next);
		await worker.settled(next);
		for (const sandbox of [id, next]) await worker.coordinator(sandbox, 'stop', ['test over']);
	}, 90_000);

	it('gives two visitors racing for its last sandbox different ones, both running', async () => {
		const [member] = await readyMembers(worker, 1);
		const [a, b] = [newVisitor(), newVisitor()];
		const ids = await Promise.all([started(worker, a), started(worker, b)]);
		expect(ids[0]).not.toBe(ids[1]);
		expect(ids.filter((id) => id === member)).toHaveLength(1);
		await Promise.all(ids.map(async (id) => servesExpress(worker, (await readyState(worker, id)).previewUrl!, id)));
		expect(await worker.coordinator(ids[0], 'ownedBy', [a])).toBe(true);
		expect(await worker.coordinator(ids[1], 'ownedBy', [b])).toBe(true);
		expect(await worker.coordinator(ids[0], 'ownedBy', [b])).toBe(false);
		for (const id of ids) await worker.coordinator(id, 'stop', ['test over']);
	}, 90_000);

	it('makes room for visitors on a full machine: its sandbox is stopped first, and it refills only into free room', async () => {
		const [member] = await readyMembers(worker, 1);
		// Vue has no pool: each start boots, and the third finds the machine full (three slots).
		const ids = [await started(worker, newVisitor(), 'vue'), await started(worker, newVisitor(), 'vue')];
		await Promise.all(ids.map((id) => worker.settled(id)));
		ids.push(await started(worker, newVisitor(), 'vue'));
		expect(await worker.settled(ids[2])).toMatchObject({ status: 'ready' });
		expect(await worker.pool('express', 'members')).toEqual([]);
		await waitFor(() => !worker.runningSandboxes().includes(member), { timeout: 15_000, interval: 250 });
		// Pool and visitors together never pass the machine's three.
		expect(worker.runningSandboxes().sort()).toEqual([...ids].sort());

		// A visitor's sandbox stops: its room goes back to the pool, at the pool's next try.
		await worker.coordinator(ids[0], 'stop', ['test over']);
		await worker.pool('express', 'fill', ['express']);
		await readyMembers(worker, 1);
		expect(worker.runningSandboxes()).toHaveLength(3);
		for (const id of ids.slice(1)) await worker.coordinator(id, 'stop', ['test over']);
	}, 120_000);
});

describe('a pooled sandbox nobody claims', () => {
	let worker: CoordinationWorker;

	beforeAll(async () => {
		worker = await startWorker({ SANDBOX_POOL_TTL_SECONDS: '6' });
	}, 60_000);

	afterAll(async () => {
		await worker?.stop();
	});

	it('is replaced by a fresh one after its pool TTL, and its container stopped', async () => {
		await worker.pool('express', 'fill', ['express']);
		const [first] = await readyMembers(worker, 1);
		await waitFor(async () => (await worker.pool<PoolMember[]>('express', 'members')).every((member) => member.sandboxId !== first), {
			timeout: 30_000,
			interval: 500
		});
		const [second] = await readyMembers(worker, 1);
		expect(second).not.toBe(first);
		await waitFor(() => worker.containers(first).length === 0, { timeout: 15_000, interval: 250 });
		expect(worker.runningSandboxes()).toEqual([second]);
	}, 90_000);
});

describe('a pool made smaller by a deploy', () => {
	it('stops its members beyond the new size, the newest first, at the next page view', async () => {
		const before = await startWorker({ SANDBOX_POOL_SIZE: 'express=2' });
		let after: CoordinationWorker | undefined;
		try {
			await before.pool('express', 'fill', ['express']);
			const [oldest, newest] = await readyMembers(before, 2);
			await before.stop();
			// The same Durable Objects, deployed with a pool of one (the old containers went with the old engine).
			after = await startCoordinationWorker({ vars: { SANDBOX_POOL_SIZE: 'express=1' }, persistDir: before.persistDir, ttlSeconds: 300 });
			expect(await after.pool('express', 'fill', ['express'])).toMatchObject({ size: 1 });
			await waitFor(async () => (await after!.pool<PoolMember[]>('express', 'members')).length === 1, { timeout: 15_000, interval: 250 });
			expect(await after.pool('express', 'members')).toEqual([{ sandboxId: oldest, ready: true }]);
			expect(await after.coordinator(newest, 'isRunning')).toBe(false);
		} finally {
			await after?.stop();
		}
	}, 120_000);
});

describe('a pooled sandbox claimed by a visitor with saved edits', () => {
	let worker: CoordinationWorker;

	beforeAll(async () => {
		worker = await startWorker({ SANDBOX_POOL_SIZE: 'vue=1' });
	}, 60_000);

	afterAll(async () => {
		await worker?.stop();
	});

	it('gets their edits over its files, and its app started again with them', async () => {
		const visitor = newVisitor();
		const first = await started(worker, visitor, 'vue');
		expect(await worker.settled(first)).toMatchObject({ status: 'ready' });
		const { content: original } = await worker.coordinator<{ content: string }>(first, 'readSource', ['src/App.vue']);
		const edited = original.replace('</main>', '<p>Edited, then claimed</p></main>');
		expect(await worker.coordinator(first, 'writeSource', ['src/App.vue', edited])).toMatchObject({ ok: true });
		await worker.coordinator(first, 'stop', ['You stopped it.']);
		expect(await worker.savedEdits(visitor, 'list')).toEqual([expect.objectContaining({ template: 'vue' })]);

		await worker.pool('vue', 'fill', ['vue']);
		const [member] = await readyMembers(worker, 1, 'vue');
		const second = await started(worker, visitor, 'vue');
		expect(second).toBe(member);
		const state = await worker.settled(second);
		expect(state.status).toBe('ready');
		// The pool's boot (at 0 s), then the restore and the app started again with it, as a restart does.
		const labels = state.steps.map((step) => step.label);
		const restore = labels.findIndex((label) => /^Restoring your edits from .* ago$/.test(label));
		expect(labels.slice(0, restore)).toEqual(['Starting the sandbox', 'Copying the app into the sandbox', 'Starting the Vite dev server', 'Waiting for Vite to answer']);
		expect(labels.slice(restore + 1)).toEqual(['Stopping the app', 'Starting the Vite dev server', 'Waiting for Vite to answer', 'Exposing the preview URL']);
		expect(state.steps.every((step) => step.state === 'done')).toBe(true);
		expect((await worker.coordinator<{ content: string }>(second, 'readSource', ['src/App.vue'])).content).toBe(edited);
		expect((await worker.preview(new URL('/src/App.vue', state.previewUrl!).href)).body).toContain('Edited, then claimed');
		await worker.coordinator(second, 'stop', ['test over']);
	}, 120_000);
});
