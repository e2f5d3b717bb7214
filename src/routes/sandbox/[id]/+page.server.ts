import { requireOwnSandbox } from '$lib/server/access';
import { startSandbox } from '$lib/server/sandboxes';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ params, cookies, url, platform, setHeaders }) => {
	const template = await requireOwnSandbox(cookies, params.id);
	setHeaders({ 'cache-control': 'no-store' });
	// Idempotent: after a restart this recovers the running app instead of starting over.
	const state = startSandbox({ url, platform }, params.id, template);
	return { state };
};
