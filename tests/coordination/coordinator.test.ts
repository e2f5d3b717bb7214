/**
 * The app's Durable Objects in workerd (worker.ts), over real containers from the local engine:
 * a sandbox's coordinator — one boot however many ask, a stop mid-boot, a visitor's saved edits,
 * the status socket — and the start gates (its life over time: lifetime.test.ts). Every assertion is what a visitor
 * would notice: the state the page shows, a preview URL that serves or does not, a container
 * that runs or does not.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSnapshot } from '../../src/lib/sandbox-state.ts';
import { REPLACED_REASON, type StartReply, type StatusReply } from '../../src/lib/server/durable-objects/contract.ts';
import { containerGone, newId, servesExpress, startReady } from './expectations.ts';
import { sleep, startCoordinationWorker, TTL_MS, type CoordinationWorker } from './harness.ts';

let worker: CoordinationWorker;

beforeAll(async () => {
	worker = await startCoordinationWorker();
}, 120_000);

afterAll(async () => {
	await worker?.stop();
});

/** How often a line occurs in the worker's log. */
const occurrences = (log: string, line: string) => log.split('\n').filter((l) => l.trim() === line).length;

describe('a boot', () => {
	it('runs once however many ask at once', async () => {
		const id = newId('once');
		const calls = await Promise.all(
			Array.from({ length: 10 }, (_, i) => [
				worker.start(id, { template: 'once' }),
				i % 2 === 0 ? worker.status(id) : Promise.resolve<StatusReply>(null)
			]).flat()
		);
		const starts = (calls.filter((_, i) => i % 2 === 0) as StartReply[]).map((reply) => {
			if (!reply.ok) throw new Error(`a start was refused: ${reply.message}`);
			return reply.state;
		});
		const statuses = (calls.filter((_, i) => i % 2 === 1) as StatusReply[]).filter((reply) => reply !== null);

		const ready = await worker.settled(id);
		expect(ready, JSON.stringify(ready)).toMatchObject({ id, template: 'once', status: 'ready', error: null });
		const labels = ready.steps.map((step) => step.label);
		// Every caller was told of the same boot: the one that became ready, seen at some step of it.
		for (const state of [...starts, ...statuses.map((reply) => reply!.state)]) {
			expect(state).toMatchObject({ id, template: 'once', status: 'initializing', previewUrl: null, error: null });
			expect(labels.slice(0, state.steps.length)).toEqual(state.steps.map((step) => step.label));
		}
		await servesExpress(worker, ready.previewUrl!, id);

		expect(occurrences(worker.workerLog(), `[coordinator] booting ${id}`)).toBe(1);
		expect(worker.workerLog()).not.toContain(`resuming the boot of ${id}`);
		expect(worker.containers(id)).toHaveLength(1);
		// Nor did one start and go again meanwhile.
		expect(worker.engineLog().match(new RegExp(`container ${id} started`, 'g'))).toHaveLength(1);
		await worker.coordinator(id, 'stop', ['test over']);
	});

	it('stopped at once leaves nothing running', async () => {
		const id = newId('stop-at-once');
		await worker.start(id);
		await worker.coordinator(id, 'stop', ['Stopped by the test.']);
		await sleep(5_000); // what a boot still under way would do by now
		await containerGone(worker, id);
		await sleep(5_000);
		expect(worker.containerProcesses(id)).toEqual([]);
		expect((await worker.status(id))?.state).toMatchObject({ status: 'stopped', previewUrl: null, error: { message: 'Stopped by the test.' } });
	});

	it('stopped after its first step leaves nothing running', async () => {
		const id = newId('stop-mid-boot');
		await worker.start(id);
		// Long-polls until the container has started and the template's first step is under way.
		let reply = await worker.status(id);
		while (reply && reply.state.status === 'initializing' && reply.state.steps.length < 2) {
			reply = await worker.status(id, { after: reply.version, waitMs: 10_000 });
		}
		expect(reply?.state).toMatchObject({ status: 'initializing' });
		expect(worker.containers(id)).toHaveLength(1);
		await worker.coordinator(id, 'stop', ['Stopped by the test.']);
		await containerGone(worker, id);
		await sleep(5_000);
		expect(worker.containerProcesses(id)).toEqual([]);
		expect((await worker.status(id))?.state).toMatchObject({ status: 'stopped', previewUrl: null, error: { message: 'Stopped by the test.' } });
	});
});

describe("a visitor's edits", () => {
	/** The backups' objects in the run's local R2 (miniflare keeps one blob per object). */
	const backupBlobs = () => readdirSync(worker.persistDir, { recursive: true, encoding: 'utf8' }).filter((path) => /r2\/.*\/blobs\/./.test(path));
	const restoreStep = (state: SandboxSnapshot) => state.steps.find((step) => step.label.startsWith('Restoring your edits'));

	it('are saved when the idle TTL stops their sandbox, restored at their next start of the template only, until they start clean', async () => {
		const visitor = `editor-${Date.now().toString(36)}`;
		const first = newId('edits');
		await worker.start(first, { template: 'vue', visitor });
		expect((await worker.settled(first)).status).toBe('ready');
		const { content: original } = await worker.coordinator<{ content: string }>(first, 'readSource', ['src/App.vue']);
		const edited = original.replace('</main>', '<p>Edited before it slept</p></main>');
		expect(await worker.coordinator(first, 'writeSource', ['src/App.vue', edited])).toMatchObject({ ok: true });

		// Nobody uses it: the TTL stops it, and its edits are saved on the way.
		await sleep(TTL_MS + 5_000);
		expect((await worker.status(first))?.state).toMatchObject({
			status: 'stopped',
			error: { message: expect.stringMatching(/without use\. Your edits are saved: starting this template again brings them back\.$/) }
		});
		await containerGone(worker, first);
		expect(await worker.savedEdits(visitor, 'list')).toEqual([expect.objectContaining({ template: 'vue' })]);
		expect(backupBlobs()).toHaveLength(2); // the archive and the SDK's metadata

		const second = newId('edits');
		await worker.start(second, { template: 'vue', visitor });
		const restored = await worker.settled(second);
		expect(restored.status).toBe('ready');
		expect(restoreStep(restored)).toMatchObject({ label: expect.stringMatching(/^Restoring your edits from (a moment|\d+ seconds) ago$/), state: 'done' });
		expect((await worker.coordinator<{ content: string }>(second, 'readSource', ['src/App.vue'])).content).toBe(edited);
		const served = await worker.preview(new URL('/src/App.vue', restored.previewUrl!).href);
		expect(served.body).toContain('Edited before it slept');

		// Another visitor's start of the template, and this visitor's of another, are the templates as they are.
		const stranger = newId('edits');
		await worker.start(stranger, { template: 'vue' });
		const fresh = await worker.settled(stranger);
		expect(restoreStep(fresh)).toBeUndefined();
		expect((await worker.coordinator<{ content: string }>(stranger, 'readSource', ['src/App.vue'])).content).toBe(original);
		await worker.coordinator(stranger, 'stop', ['test over']);

		// Started clean while the restored one still runs: its edits are not kept when it stops, and none are left.
		await worker.savedEdits(visitor, 'discard', ['vue']);
		expect(await worker.savedEdits(visitor, 'list')).toEqual([]);
		await worker.coordinator(second, 'stop', ['You stopped it.']);
		expect((await worker.status(second))?.state.error?.message).toBe('You stopped it.');
		expect(await worker.savedEdits(visitor, 'list')).toEqual([]);
		expect(backupBlobs()).toEqual([]);
		const third = newId('edits');
		await worker.start(third, { template: 'vue', visitor });
		const clean = await worker.settled(third);
		expect(restoreStep(clean)).toBeUndefined();
		expect((await worker.coordinator<{ content: string }>(third, 'readSource', ['src/App.vue'])).content).toBe(original);
		await worker.coordinator(third, 'stop', ['test over']);
	}, 120_000);
	it('are not kept when their archive is over 16 MiB, however small the files were when measured', async () => {
		// The app may write more between the measure and the archive: the archive itself is measured.
		const visitor = `grower-${Date.now().toString(36)}`;
		const backupOf = async (id: string, bytes: number) => {
			await worker.putObject(`backups/${id}/data.sqsh`, new Uint8Array(bytes));
			await worker.putObject(`backups/${id}/meta.json`, new TextEncoder().encode('{}'));
			const savedAt = Date.now();
			return { template: 'vue', backup: { id, dir: '/workspace/app', localBucket: true }, savedAt, expiresAt: savedAt + 60_000 };
		};
		const big = await backupOf(`big-${visitor}`, 16 * 1024 * 1024 + 1);
		// (With the 2 bytes of its metadata.)
		expect(await worker.savedEdits(visitor, 'keep', [big, Date.now()])).toEqual({ kept: false, reason: 'its archive, 16777219 bytes, is over 16777216' });
		expect(await worker.savedEdits(visitor, 'list')).toEqual([]);
		expect(backupBlobs()).toEqual([]);

		const small = await backupOf(`small-${visitor}`, 1024 * 1024);
		expect(await worker.savedEdits(visitor, 'keep', [small, Date.now()])).toEqual({ kept: true });
		expect(await worker.savedEdits(visitor, 'list')).toEqual([small]);
		await worker.savedEdits(visitor, 'discard', ['vue']);
		expect(backupBlobs()).toEqual([]);
	});
});

describe('the status socket', () => {
	it('sends the current state on connect, then every step, and ready', async () => {
		const id = newId('socket');
		await worker.start(id);
		const socket = await worker.socket(id);
		const ready = await socket.next((message) => message.type === 'ready');
		const [first] = socket.messages;
		expect(first.state).toMatchObject({ id, template: 'express' });
		expect(['progress', 'ready']).toContain(first.type);

		// From the step it was connected at on, each step arrived as the active one.
		const steps = ready.state.steps;
		expect(steps.length).toBeGreaterThanOrEqual(4);
		for (const step of steps.slice(Math.max(0, first.state.steps.length - 1))) {
			if (first.type === 'ready') break;
			expect(
				socket.messages.some((m) => m.type === 'progress' && m.state.steps.at(-1)?.label === step.label && m.state.steps.at(-1)?.state === 'active'),
				`step "${step.label}" in ${JSON.stringify(socket.messages.map((m) => m.state.steps.map((s) => s.label)))}`
			).toBe(true);
		}
		expect(socket.messages.at(-1)).toEqual(ready);
		expect(ready.state.previewUrl).toMatch(/^http:\/\/3001-/);
		await servesExpress(worker, ready.state.previewUrl!, id);

		// A late socket gets the settled state at once.
		const late = await worker.socket(id);
		expect((await late.next(() => true)).state).toEqual(ready.state);
		late.ws.close();
		socket.ws.close();
		await worker.coordinator(id, 'stop', ['test over']);
	});

	it('closes a socket that sends anything (1008), and one that sends too much (1009), and no other', async () => {
		const id = newId('socket-refusal');
		await startReady(worker, id);
		const bystander = await worker.socket(id);
		await bystander.next(() => true);

		const chatty = await worker.socket(id);
		await chatty.next(() => true);
		chatty.ws.send('hello');
		expect((await chatty.closed).code).toBe(1008);

		const big = await worker.socket(id);
		await big.next(() => true);
		big.ws.send('x'.repeat(70 * 1024));
		expect((await big.closed).code).toBe(1009);

		expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
		await worker.coordinator(id, 'stop', ['test over']);
		expect((await bystander.next((m) => m.type === 'stopped')).state.status).toBe('stopped');
		expect((await bystander.closed).code).toBe(1000);
	});
});

describe('the start gate', () => {
	it('lets `starts` through per window, then says when to retry, then lets through again', async () => {
		const name = `visitor:${newId('gate')}`;
		const limit = { starts: 3, perMs: 2_000 };
		for (let i = 0; i < 3; i++) expect(await worker.gate(name, 'admit', [limit])).toEqual({ ok: true });
		const refused = await worker.gate<{ ok: false; retryAfterSeconds: number }>(name, 'admit', [limit]);
		expect(refused.ok).toBe(false);
		expect(refused.retryAfterSeconds).toBeGreaterThan(0);
		expect(refused.retryAfterSeconds).toBeLessThanOrEqual(limit.perMs / 1000);
		// Another gate counts on its own.
		expect(await worker.gate(`${name}-other`, 'admit', [limit])).toEqual({ ok: true });

		await sleep(limit.perMs + 200);
		expect(await worker.gate(name, 'admit', [limit])).toEqual({ ok: true });
	});

	it("makes a visitor's start in one call: within their limit, replacing (and stopping) their previous sandbox", async () => {
		const visitor = newId('one-call');
		const limits = { perVisitor: 2, perNetwork: 30, liveAtNetwork: 3 };
		const started = async () => {
			const reply = await worker.gateStart(visitor, { limits });
			if (!reply.ok) throw new Error(`refused: ${JSON.stringify(reply)}`);
			return reply.id;
		};

		const first = await started();
		expect(await worker.settled(first)).toMatchObject({ status: 'ready' });
		const second = await started();
		expect(second).not.toBe(first);
		expect((await worker.status(first))?.state.status).toBe('stopped');
		await containerGone(worker, first);
		const ready = await worker.settled(second);
		expect(ready).toMatchObject({ status: 'ready' });
		await servesExpress(worker, ready.previewUrl!, second);
		// Another visitor is told nothing of it.
		expect(await worker.status(second, { visitor: newId('stranger') })).toBeNull();
		expect(await worker.coordinator(second, 'ownedBy', [newId('stranger')])).toBe(false);
		expect(await worker.coordinator(second, 'ownedBy', [visitor])).toBe(true);

		// Past the visitor's limit: refused, and nothing started or stopped.
		expect(await worker.gateStart(visitor, { limits })).toMatchObject({ ok: false, reason: 'rate' });
		expect((await worker.status(second))?.state.status).toBe('ready');
		await worker.coordinator(second, 'stop', ['test over']);
	});

	it("after a double click, one sandbox is left running: the visitor's second", async () => {
		const visitor = newId('double');
		const limits = { perVisitor: 5, perNetwork: 30, liveAtNetwork: 3 };

		const firstStart = worker.gateStart(visitor, { limits });
		await new Promise((resolve) => setTimeout(resolve, 20));
		const replies = await Promise.all([firstStart, worker.gateStart(visitor, { limits })]);
		const [first, second] = replies.map((reply) => (reply.ok ? reply.id : ''));
		expect(replies).toEqual([{ ok: true, id: first }, { ok: true, id: second }]);

		expect((await worker.status(first))?.state).toMatchObject({ status: 'stopped', error: { message: REPLACED_REASON } });
		await containerGone(worker, first);
		expect(await worker.settled(second)).toMatchObject({ status: 'ready' });
		await worker.coordinator(second, 'stop', ['test over']);
	});

	it('remembers the live sandbox, answering the one each replaces', async () => {
		const name = `visitor:${newId('live')}`;
		expect(await worker.gate(name, 'replaceLive', ['a'])).toBeNull();
		expect(await worker.gate(name, 'replaceLive', ['b'])).toBe('a');
		expect(await worker.gate(name, 'replaceLive', ['c'])).toBe('b');
		expect(await worker.gate(name, 'replaceLive', ['c'])).toBeNull();
		expect(await worker.gate(name, 'replaceLive', ['d'])).toBe('c');
	});
});
