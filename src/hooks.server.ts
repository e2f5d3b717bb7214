import { json, type Handle } from '@sveltejs/kit';
import { sandboxBackend } from '$lib/server/sandbox';
import { parsePreviewHost } from '$lib/server/sandbox/rules';
import { sandboxManager } from '$lib/server/sandboxes';

/**
 * Requests for a preview host (`{port}-{id}-{token}.{host}`) belong to the
 * sandbox, never to the app: they are answered from the sandbox or refused,
 * and never fall through to the app's pages.
 */
export const handle: Handle = async ({ event, resolve }) => {
	const route = parsePreviewHost(event.url.host);
	if (!route) return resolve(event);

	sandboxManager().touch(route.sandboxId);
	try {
		const response = await (await sandboxBackend()).proxyPreview(event.request);
		// Guard against anything that is not a real Response (older SDKs returned other truthy values).
		if (response instanceof Response) return response;
	} catch (error) {
		console.error('[preview] proxying failed', error);
		return json({ error: 'The preview is not reachable right now', code: 'PREVIEW_UNAVAILABLE' }, { status: 502 });
	}
	return json({ error: 'Access denied: Invalid token or port not exposed', code: 'INVALID_TOKEN' }, { status: 404 });
};
