/**
 * The worker entry that `npm run preview` and the tests run when there is no Docker engine: the
 * app's own entry (src/worker.ts), with the SDK's `Sandbox` Durable Object getting its containers
 * from the local engine. The deployed worker's entry is src/worker.ts itself, which carries none
 * of this (the deploy check asserts it).
 */
export { default, Capacity, SandboxCoordinator, SandboxPool, SavedEdits, StartGate } from '../src/worker.ts';
export { Sandbox } from '../engine/workerd/sandbox.ts';
