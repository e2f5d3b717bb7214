import { json } from '@sveltejs/kit';
import { requireOwnSandbox } from '$lib/server/access';
import { startSandbox } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/** The sandbox's state: the polling path, used only when the WebSocket stays silent. */
export const GET: RequestHandler = async ({ params, request, url, platform }) => {
	const template = await requireOwnSandbox(request, params.id);
	const state = startSandbox({ url, platform }, params.id, template);
	return json(state, { headers: { 'cache-control': 'no-store' } });
};
