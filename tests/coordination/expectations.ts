/**
 * What the coordination suites check the same way: a sandbox ID for each test, a sandbox that is
 * ready, its preview serving the Express app, its container gone.
 */
import { expect } from 'vitest';
import type { SandboxSnapshot } from '../../src/lib/sandbox-state.ts';
import { waitFor } from '../helpers/host.ts';
import type { CoordinationWorker } from './harness.ts';

let counter = 0;
/** A sandbox ID of its own (a DNS label, as preview URLs need), its first word saying what it is for. */
export const newId = (name: string) => `${name}-${Date.now().toString(36)}${++counter}`;

/** The sandbox's state once it has settled, which must be ready. */
export async function readyState(worker: CoordinationWorker, id: string): Promise<SandboxSnapshot> {
	const state = await worker.settled(id);
	expect(state, JSON.stringify(state)).toMatchObject({ status: 'ready' });
	return state;
}

/** A sandbox started (by `visitor`, when given) and ready. */
export async function startReady(worker: CoordinationWorker, id: string, visitor?: string): Promise<SandboxSnapshot> {
	const reply = await worker.start(id, { visitor });
	expect(reply.ok, JSON.stringify(reply)).toBe(true);
	return readyState(worker, id);
}

/** The Express template's JSON for `id`, as its preview URL serves it through the worker. */
export async function servesExpress(worker: CoordinationWorker, previewUrl: string, id: string) {
	const response = await worker.preview(previewUrl);
	expect(response.status, response.body).toBe(200);
	expect(JSON.parse(response.body)).toMatchObject({ message: `Hello from sandbox ${id}`, sandbox: id });
}

/**
 * Waits until none of the sandbox's container processes is left: a destroy takes a moment, and a
 * container that a call under way at the stop woke is stopped by the next sweep (every 5 s, for a
 * minute after the stop), which a loaded machine may run late.
 */
export async function containerGone(worker: CoordinationWorker, id: string) {
	await waitFor(() => worker.containerProcesses(id).length === 0, { timeout: 30_000, interval: 250 }).catch(() => {
		throw new Error(`processes of ${id} are left:\n${worker.containerProcesses(id).map((p) => `${p.pid} ${p.cmdline.slice(0, 160)}`).join('\n')}`);
	});
}
