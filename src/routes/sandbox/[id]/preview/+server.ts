/**
 * The way into a sandbox's private preview (see preview-access.ts): the iframe and "Open in a new
 * tab" link here. For the sandbox's own visitor, the coordinator issues a one-time ticket, and the
 * browser is sent on to the preview host, which trades it for that host's preview cookie and goes
 * on to `to` (a path on the preview). Anyone else gets 404, as for every page of the sandbox.
 */
import { error, redirect } from '@sveltejs/kit';
import * as v from 'valibot';
import { requireOwnSandbox } from '$lib/server/access';
import { PreviewPath, ticketUrl } from '$lib/server/preview-access';
import { coordinatorOf, structuredCopy } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

const Query = v.object({ to: PreviewPath });

export const GET: RequestHandler = async ({ params, url, platform, locals, setHeaders }) => {
	await requireOwnSandbox(platform, locals.visitor, params.id);
	const query = v.safeParse(Query, Object.fromEntries(url.searchParams));
	if (!query.success) error(400, query.issues[0].message);
	const reply = structuredCopy(await coordinatorOf(platform, params.id).issuePreviewTicket());
	if (!reply.ok) error(reply.status, reply.message);
	// The ticket is in the URL: never cached, never sent on as a Referer.
	setHeaders({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
	redirect(303, ticketUrl(reply, query.output.to));
};
