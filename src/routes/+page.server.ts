import { fail, redirect } from '@sveltejs/kit';
import * as v from 'valibot';
import { readForm } from '$lib/server/form';
import { PreviewHostname } from '$lib/server/sandbox/rules';
import { spokenAgo } from '$lib/durations';
import { clientAddress, fillPools, savedEditsOf, startSandbox } from '$lib/server/sandboxes';
import { offers, TemplateChoice } from '$lib/server/templates/catalog';
import { ensureVisitor } from '$lib/server/visitor';
import type { Actions, PageServerLoad } from './$types';

/**
 * Without a choice (a form of its own, a script), the first template offered. `clean`: without the
 * visitor's saved edits of it (a checkbox: sent only when ticked).
 */
const StartForm = v.object({
	template: v.optional(TemplateChoice, offers[0].id),
	clean: v.optional(v.literal('on', 'clean is a checkbox: "on" or absent'))
});

/**
 * The templates, each with when the visitor's edits of it were saved ("12 minutes ago"), if they
 * were, and whether a sandbox of it is ready to be taken at once (its warm pool's, which a start
 * with saved edits to restore does not take). Viewing the page fills the pools.
 */
export const load: PageServerLoad = async ({ locals, platform }) => {
	const [saved, pools] = await Promise.all([locals.visitor ? savedEditsOf(platform, locals.visitor) : [], fillPools(platform)]);
	const savedAgo = (template: string) => {
		const edit = saved.find((entry) => entry.template === template);
		return edit ? spokenAgo(Date.now() - edit.savedAt) : null;
	};
	return {
		templates: offers.map((template) => {
			const editsSaved = savedAgo(template.id);
			const readyNow = pools.some((pool) => pool.template === template.id && pool.ready > 0);
			return { ...template, editsSaved, readyNow: readyNow && !editsSaved };
		})
	};
};

export const actions: Actions = {
	/**
	 * Starts a fresh sandbox for this visitor, replacing the one they had, and sends them to its
	 * status page (Post/Redirect/Get). It restores their saved edits of the template, unless they
	 * asked to start clean, which forgets them. Too many starts in a minute, or too many sandboxes running
	 * from one client address, get 429 with Retry-After; no room for another sandbox (every one in
	 * use, none to reclaim) gets 503 with Retry-After.
	 */
	start: async ({ request, cookies, url, platform, getClientAddress, setHeaders }) => {
		const form = v.safeParse(StartForm, Object.fromEntries(await readForm(request)));
		if (!form.success) return fail(400, { error: form.issues[0].message });
		// Preview URLs hang off this host: refuse at once one that cannot carry them (the SDK would
		// only say so once the whole boot had run).
		const host = v.safeParse(PreviewHostname, url.host);
		if (!host.success) return fail(400, { error: host.issues[0].message });

		const visitor = await ensureVisitor(request, cookies, url);
		const { template, clean } = form.output;
		// Finished even if the browser goes away meanwhile: or the visitor would have two live sandboxes.
		const started = startSandbox(platform, { template, origin: url.origin, visitor, address: clientAddress(getClientAddress), clean: clean === 'on' });
		platform?.ctx.waitUntil(started);
		const reply = await started;
		if (!reply.ok) {
			setHeaders({ 'retry-after': String(reply.retryAfterSeconds) });
			if ('status' in reply) return fail(reply.status, { error: reply.message });
			return fail(429, {
				error:
					reply.reason === 'live'
						? 'Too many sandboxes are running from your network right now. Stop one you no longer use (an idle one stops by itself after a few minutes), then try again.'
						: `Too many sandboxes started in a short time. Please try again in ${reply.retryAfterSeconds} s.`
			});
		}
		redirect(303, `/sandbox/${reply.id}`);
	}
};
