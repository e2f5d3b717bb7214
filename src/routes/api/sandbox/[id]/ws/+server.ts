/**
 * The sandbox's status WebSocket in workerd: handed to its coordinator, which accepts it with the
 * hibernation API and sends every change of state. (In `vite dev`, upgrades never reach SvelteKit:
 * the dev server bridges them to the same coordinator, see dev/vite/app-sockets.ts.) This route has no
 * +page beside it on purpose: SvelteKit would rebuild the response to add `Vary: Accept`, which a
 * 101 does not survive.
 */
import { requireOwnSandbox } from '$lib/server/access';
import { sameOrigin } from '$lib/server/same-origin';
import { coordinatorOf } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

export const GET: RequestHandler = async ({ request, params, url, platform, locals }) => {
	if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
		return new Response('This endpoint speaks WebSocket only', { status: 426, headers: { upgrade: 'websocket' } });
	}
	if (!sameOrigin(request.headers.get('origin'), url.host)) return new Response('Cross-origin WebSocket refused', { status: 403 });
	await requireOwnSandbox(platform, locals.visitor, params.id);
	return coordinatorOf(platform, params.id).fetch(request);
};
