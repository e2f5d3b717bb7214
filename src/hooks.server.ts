import type { Handle } from '@sveltejs/kit';
import { crossSiteProblem } from '$lib/server/same-origin';
import { isPreviewNamespace } from '$lib/server/sandbox/rules';
import { answerPreview } from '$lib/server/sandboxes';

/**
 * - Requests for the preview namespace belong to the sandbox, never to the app: they are answered
 *   from the sandbox or refused (404 for hosts that are no valid preview host), and never fall
 *   through to the app's pages. (In workerd, src/worker.ts routes them before SvelteKit's asset
 *   and cache shortcuts; in `vite dev`, the dev server plugin does.)
 * - State-changing requests from another site get 403 (see same-origin.ts).
 */
export const handle: Handle = async ({ event, resolve }) => {
	if (isPreviewNamespace(event.url.host)) return answerPreview(event.request, event.platform);
	const problem = crossSiteProblem(event.request, event.url);
	if (problem) return new Response(problem, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } });
	return resolve(event);
};
