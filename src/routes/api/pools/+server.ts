import { json } from '@sveltejs/kit';
import { fillPools } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/**
 * The warm pools at a glance, for operators and the bench: each template's pool size, and how many
 * of its sandboxes are ready to be taken and starting (asking also fills them, as the start page does).
 * Counts only: no sandbox ID leaves the server.
 */
export const GET: RequestHandler = async ({ platform }) => {
	return json(await fillPools(platform), { headers: { 'cache-control': 'no-store' } });
};
