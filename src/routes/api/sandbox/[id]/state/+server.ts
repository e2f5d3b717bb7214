import { json } from '@sveltejs/kit';
import { requireOwnSandbox } from '$lib/server/access';
import { sandboxState } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/** The sandbox's state: the polling path, used only when the WebSocket stays silent. A read counts as use. */
export const GET: RequestHandler = async ({ params, platform, locals }) => {
	const template = await requireOwnSandbox(locals.visitor, params.id);
	const { state } = await sandboxState(platform, params.id, template.id);
	return json(state, { headers: { 'cache-control': 'no-store' } });
};
