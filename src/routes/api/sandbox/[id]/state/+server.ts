import { json } from '@sveltejs/kit';
import { messageFor } from '$lib/sandbox-state';
import { requireSandboxId } from '$lib/server/access';
import { sandboxState } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/**
 * The sandbox's state, as the WebSocket would send it: what the page polls while a boot's socket
 * stays silent, and what a visible tab's heartbeat reads. A read counts as use; another visitor's
 * sandbox is 404.
 */
export const GET: RequestHandler = async ({ params, platform, locals }) => {
	await requireSandboxId(params.id);
	const { state, version } = await sandboxState(platform, params.id, locals.visitor);
	return json(messageFor(state, version), { headers: { 'cache-control': 'no-store' } });
};
