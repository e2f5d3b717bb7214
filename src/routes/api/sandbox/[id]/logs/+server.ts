/**
 * The app's logs as they come, for the page's script: one JSON part per line (see
 * $lib/app-logs.ts), from the sandbox's coordinator, which cleans them and redacts the app's
 * secrets. Without JavaScript, the page shows the last lines it was loaded with.
 */
import { json } from '@sveltejs/kit';
import { requireOwnSandbox } from '$lib/server/access';
import { followSandboxLogs } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

export const GET: RequestHandler = async ({ params, platform, locals }) => {
	await requireOwnSandbox(platform, locals.visitor, params.id);
	const answer = await followSandboxLogs(platform, params.id);
	if (!answer.ok || !answer.body) return json(await answer.json(), { status: answer.status });
	// A response of our own: one from another object's fetch has headers SvelteKit may not change.
	return new Response(answer.body, { headers: { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' } });
};
