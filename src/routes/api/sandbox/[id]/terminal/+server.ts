/**
 * A terminal: the browser's WebSocket, handed to the sandbox's coordinator, which joins it to a
 * shell in the sandbox (terminal.ts). Owner only, same origin only. (In `vite dev`, upgrades never
 * reach SvelteKit: the dev server bridges them to the same coordinator, see dev/vite/app-sockets.ts.)
 */
import { requireOwnSandbox } from '$lib/server/access';
import { sameOrigin } from '$lib/server/same-origin';
import { openSandboxTerminal } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

export const GET: RequestHandler = async ({ request, params, url, platform, locals }) => {
	if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
		return new Response('This endpoint speaks WebSocket only', { status: 426, headers: { upgrade: 'websocket' } });
	}
	if (!sameOrigin(request.headers.get('origin'), url.host)) return new Response('Cross-origin WebSocket refused', { status: 403 });
	await requireOwnSandbox(platform, locals.visitor, params.id);
	return openSandboxTerminal(platform, params.id, url.search);
};
