import { env } from '$env/dynamic/private';
import type { Handle } from '@sveltejs/kit';
import { foreignHostProblem } from '$lib/server/app-hosts';
import { crossSiteProblem } from '$lib/server/same-origin';
import { isPreviewNamespace } from '$lib/server/sandbox/rules';
import { readVisitor } from '$lib/server/visitor';

/**
 * - Only the app's own hosts are served (app-hosts.ts; in workerd the worker entry checks first).
 * - Requests for the preview namespace belong to the sandbox, never to the app. They are answered
 *   before SvelteKit (src/worker.ts in workerd; the dev server plugin in `vite dev`), so one that
 *   arrives here anyway is refused rather than served the app's pages.
 * - State-changing requests from another site get 403 (see same-origin.ts).
 * - The visitor is read once, into `locals.visitor`, for every route.
 */
export const handle: Handle = async ({ event, resolve }) => {
	const foreign = foreignHostProblem(event.url, env.APP_HOSTS);
	if (foreign) return new Response(foreign, { status: 421, headers: { 'content-type': 'text/plain; charset=utf-8' } });
	if (isPreviewNamespace(event.url.host)) return Response.json({ error: 'Not a preview host', code: 'INVALID_TOKEN' }, { status: 404 });
	const problem = crossSiteProblem(event.request, event.url);
	if (problem) return new Response(problem, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } });
	event.locals.visitor = await readVisitor(event.request.headers.get('cookie'), event.url);
	return resolve(event);
};
