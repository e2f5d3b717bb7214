import { json } from '@sveltejs/kit';
import { requireSandboxId } from '$lib/server/access';
import { sandboxState } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/** The sandbox's state: the polling path, used only when the WebSocket stays silent. A read counts as use; another visitor's sandbox is 404. */
export const GET: RequestHandler = async ({ params, platform, locals }) => {
	await requireSandboxId(params.id);
	const { state } = await sandboxState(platform, params.id, locals.visitor);
	return json(state, { headers: { 'cache-control': 'no-store' } });
};
