/**
 * Internal: src/worker.ts calls this (straight into SvelteKit, not over the network) when a
 * preview answered 410, so that the app's manager boots the sandbox again. The worker passes a
 * per-isolate key in the platform env of that one call only; any other caller gets 404.
 */
import { error } from '@sveltejs/kit';
import { REVIVE_KEY_HEADER } from '$lib/server/preview-route';
import { reviveSandbox } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

export const POST: RequestHandler = async ({ request, params, url, platform }) => {
	const key = (platform?.env as { PREVIEW_REVIVE_KEY?: string } | undefined)?.PREVIEW_REVIVE_KEY;
	if (!key || request.headers.get(REVIVE_KEY_HEADER) !== key) error(404, 'Not found');
	await reviveSandbox({ platform }, params.id, url.host);
	return new Response(null, { status: 204 });
};
