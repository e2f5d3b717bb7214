import type { Handle } from '@sveltejs/kit';
import { parsePreviewHost } from '$lib/server/sandbox/rules';
import { answerPreview } from '$lib/server/sandboxes';

/**
 * Requests for a preview host belong to the sandbox, never to the app: they are answered from the
 * sandbox or refused, and never fall through to the app's pages. (In workerd, src/worker.ts routes
 * them before SvelteKit's asset and cache shortcuts; in `vite dev`, the dev server plugin does.)
 */
export const handle: Handle = async ({ event, resolve }) => {
	if (parsePreviewHost(event.url.host)) return answerPreview(event.request, event.platform);
	return resolve(event);
};
