/**
 * What a coordinator keeps of its sandbox (sandbox-record.ts), and the changes of state its page
 * shows: steps with their durations, how a boot ends, and a stop.
 */
import { describe, expect, it } from 'vitest';
import type { AppProblem } from '../../src/lib/sandbox-state.ts';
import { beginStep, claimRecord, endBoot, newRecord, secretsOf, stoppedState, unclaimed } from '../../src/lib/server/durable-objects/sandbox-record.ts';

const now = 1_000_000_000;
const fresh = (api = false) => newRecord({ id: 'sbx', template: 'express', owner: { origin: 'http://localhost:5173', visitor: 'v1' }, api, now });

describe('a new sandbox', () => {
	it('is initializing, private, with no steps, and used as of its start', () => {
		const record = fresh();
		expect(record.state).toEqual({ id: 'sbx', template: 'express', status: 'initializing', steps: [], previewUrl: null, previewAccess: 'private', error: null, problem: null });
		expect(record).toMatchObject({ version: 1, startedAt: now, lastActiveAt: now, visitor: 'v1' });
	});

	it('of a template with an API gets a token of its own, which its output may never show', () => {
		const [a, b] = [fresh(true), fresh(true)];
		expect(a.apiToken).toMatch(/^[0-9a-f]{64}$/);
		expect(a.apiToken).not.toBe(b.apiToken);
		expect(secretsOf(a)).toEqual([a.apiToken]);
		expect(fresh().apiToken).toBeUndefined();
		expect(secretsOf(fresh())).toEqual([]);
	});
});

describe('a boot', () => {
	it('closes each step with its duration when the next begins', () => {
		const { state } = fresh();
		beginStep(state, 'Starting the sandbox', now);
		beginStep(state, 'Copying the app', now + 1_200);
		expect(state.steps).toEqual([
			{ label: 'Starting the sandbox', state: 'done', startedAt: now, durationMs: 1_200 },
			{ label: 'Copying the app', state: 'active', startedAt: now + 1_200, durationMs: null }
		]);
	});

	it('that fails marks its last step failed; one that ends ready, done', () => {
		const failed = fresh().state;
		beginStep(failed, 'Starting the server', now);
		endBoot(failed, { status: 'error', error: { message: 'It exited', retryable: true } }, now + 300);
		expect(failed.steps.at(-1)).toMatchObject({ state: 'failed', durationMs: 300 });
		expect(failed).toMatchObject({ status: 'error', error: { message: 'It exited' } });

		const ready = fresh().state;
		beginStep(ready, 'Starting the server', now);
		endBoot(ready, { status: 'ready', previewUrl: 'http://8080-sbx-t.localhost:5173/', problem: null }, now + 500);
		expect(ready.steps.at(-1)).toMatchObject({ state: 'done', durationMs: 500 });
		expect(ready.previewUrl).toBe('http://8080-sbx-t.localhost:5173/');
	});

	it('of a restart the app fails marks its last step failed, and the sandbox stays ready with the problem', () => {
		const { state } = fresh();
		beginStep(state, 'Starting the server', now);
		const problem: AppProblem = { kind: 'exited', message: 'The app exited with code 1.', log: [], at: now };
		endBoot(state, { status: 'ready', problem }, now + 100);
		expect(state.steps.at(-1)?.state).toBe('failed');
		expect(state).toMatchObject({ status: 'ready', problem });
	});
});

it('a stop leaves only the reason, which the page shows', () => {
	const { state } = fresh();
	beginStep(state, 'Starting the server', now);
	endBoot(state, { status: 'ready', previewUrl: 'http://8080-sbx-t.localhost:5173/', problem: null }, now + 1);
	stoppedState(state, 'You stopped it.');
	expect(state).toMatchObject({ status: 'stopped', steps: [], previewUrl: null, error: { message: 'You stopped it.', retryable: true }, problem: null });
});

describe('a pooled sandbox', () => {
	const pooled = () => newRecord({ id: 'sbx', template: 'express', owner: null, api: true, now });

	it("is nobody's until claimed, with no origin for a preview yet", () => {
		const record = pooled();
		expect(record).toMatchObject({ pooled: true, origin: null });
		expect(record.visitor).toBeUndefined();
		expect(unclaimed(record)).toBe(true);
		expect(unclaimed(fresh())).toBe(false);
	});

	it("becomes its visitor's when claimed: started then, its boot's steps done at once, its preview still to make", () => {
		const record = pooled();
		beginStep(record.state, 'Starting the sandbox', now);
		beginStep(record.state, 'Starting the server', now + 900);
		endBoot(record.state, { status: 'ready', previewUrl: null }, now + 1200);
		const token = record.apiToken;

		const later = now + 60_000;
		claimRecord(record, { visitor: 'v2', origin: 'http://localhost:5173' }, later);
		expect(unclaimed(record)).toBe(false);
		expect(record).toMatchObject({ visitor: 'v2', origin: 'http://localhost:5173', startedAt: later, lastActiveAt: later, apiToken: token });
		expect(record.state.status).toBe('initializing');
		expect(record.state.steps).toEqual([
			{ label: 'Starting the sandbox', state: 'done', startedAt: later, durationMs: 0 },
			{ label: 'Starting the server', state: 'done', startedAt: later, durationMs: 0 }
		]);
	});
});
