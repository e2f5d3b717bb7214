import { redirect } from '@sveltejs/kit';
import { requireOwnSandbox } from '$lib/server/access';
import { sandboxManager, startSandbox } from '$lib/server/sandboxes';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ params, cookies, url, platform, setHeaders }) => {
	const template = await requireOwnSandbox(cookies, params.id);
	setHeaders({ 'cache-control': 'no-store' });
	// Idempotent: after a restart this recovers the running app instead of starting over.
	return { state: startSandbox({ url, platform }, params.id, template) };
};

export const actions: Actions = {
	/** Destroys the visitor's sandbox now instead of at the idle TTL. */
	stop: async ({ params, cookies }) => {
		await requireOwnSandbox(cookies, params.id);
		await sandboxManager().destroy(params.id);
		redirect(303, '/');
	}
};
