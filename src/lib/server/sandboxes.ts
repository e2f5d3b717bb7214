/**
 * The routes' one way to a sandbox: a thin client of its coordinator, the Durable Object that
 * holds its state (coordinator/coordinator.ts). Nothing about a sandbox is kept in this isolate.
 * In workerd the coordinators are bindings of this worker; in `vite dev` they live in a companion
 * `wrangler dev`, and `platform.env` reaches them through wrangler's platform proxy.
 */
import { error } from '@sveltejs/kit';
import type { SandboxSnapshot, TemplateId } from '$lib/sandbox-state';
import type { CoordinatorApi, CoordinatorNamespace } from './coordinator/contract';

/** The sandbox's coordinator, from the request's platform. */
export function coordinatorOf(platform: App.Platform | undefined, id: string): CoordinatorApi {
	const namespace = platform?.env.Coordinator as CoordinatorNamespace | undefined;
	if (!namespace) {
		error(503, 'No sandbox coordinator is bound: run the app with `npm run dev`, `npm run preview` or `wrangler deploy`.');
	}
	return namespace.get(namespace.idFromName(id));
}

/**
 * The sandbox's state, with its version. One it has no record of (forgotten a day after it
 * stopped) is shown as stopped. `after`/`waitMs` wait for the next change (see the status page).
 */
export async function sandboxState(
	platform: App.Platform | undefined,
	id: string,
	template: TemplateId,
	wait: { after?: number; waitMs?: number } = {}
): Promise<{ state: SandboxSnapshot; version: number; ttlMs: number }> {
	// Copied: through the platform proxy the reply is a proxy object, which SvelteKit cannot serialize.
	const reply = structuredCopy(await coordinatorOf(platform, id).status(wait));
	return reply ?? { state: stoppedState(id, template), version: 0, ttlMs: 0 };
}

function stoppedState(id: string, template: TemplateId): SandboxSnapshot {
	const error = { message: 'It is no longer running.', retryable: true };
	return { id, template, status: 'stopped', steps: [], previewUrl: null, error };
}

/** A plain copy of an RPC reply (the platform proxy hands over proxies for objects). */
export function structuredCopy<T>(value: T): T {
	return value === null || value === undefined ? value : JSON.parse(JSON.stringify(value));
}
