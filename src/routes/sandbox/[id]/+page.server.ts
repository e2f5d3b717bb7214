import { error, fail, redirect } from '@sveltejs/kit';
import * as v from 'valibot';
import { emptyResult, withPart, type ConsolePart } from '$lib/api-console';
import { readJsonLines } from '$lib/json-lines';
import type { EditorData, SavedFile } from '$lib/sandbox-state';
import { requireOwnSandbox, requireSandboxId } from '$lib/server/access';
import { callFromForm } from '$lib/server/api-console';
import { readForm } from '$lib/server/form';
import { callSandboxApi, coordinatorOf, sandboxState, structuredCopy } from '$lib/server/sandboxes';
import { ticketUrl } from '$lib/server/preview-access';
import { parseSourceContent, parseSourcePath, SourceFileError, type EditableSources } from '$lib/server/source-files';
import type { Actions, PageServerLoad } from './$types';

/**
 * `?file=` picks the editor's file; `saved` and `refresh` are set by the redirect after a save;
 * `after` by the page's own refresh without JavaScript: the state version it showed.
 */
const Query = v.object({
	file: v.optional(v.string()),
	saved: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'saved must be a timestamp'), v.transform(Number))),
	refresh: v.optional(v.literal('1', 'refresh can only be 1')),
	after: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/, 'after must be a version number'), v.transform(Number)))
});

const ShareForm = v.object({ access: v.picklist(['private', 'public'], 'access must be private or public') });

/**
 * A page load without JavaScript waits (up to 8 s) for the state to move on from the one it showed,
 * so that the page follows the boot as closely as a socket; steps that follow within 400 ms come in
 * one answer, as each answer costs the page a reload.
 */
const NO_JS_WAIT = { waitMs: 8_000, gatherMs: 400 };

export const load: PageServerLoad = async ({ params, url, platform, setHeaders, locals }) => {
	const template = await requireSandboxId(params.id);
	setHeaders({ 'cache-control': 'no-store' });
	const query = v.safeParse(Query, Object.fromEntries(url.searchParams));
	if (!query.success) error(400, query.issues[0].message);
	const { file, saved, refresh, after } = query.output;

	const wait = after === undefined ? {} : { after, ...NO_JS_WAIT };
	const { state, version, heartbeatMs, previewTicket } = await sandboxState(platform, params.id, locals.visitor, { ...wait, previewTicket: true });
	const sources = template.editor;
	const ready = state.status === 'ready';
	const [editor, logs] = await Promise.all([
		sources && ready ? openEditor(platform, params.id, sources, file) : null,
		ready ? coordinatorOf(platform, params.id).recentLogs().then(structuredCopy) : null
	]);
	return {
		/** The template's name, as the start page offered it. */
		label: template.label,
		state,
		version,
		/** How often a visible tab reports that it is still open (see +page.svelte): the coordinator says. */
		heartbeatMs,
		/** Straight into the preview, once (a one-time ticket), if the sandbox is ready: the iframe's first address. */
		previewTicketUrl: previewTicket ? ticketUrl(previewTicket) : null,
		/** Whether this template has an editor at all (its files load once the sandbox is ready). */
		editable: Boolean(sources),
		/** The API console's one-click requests, for a template with an API; null for one without. */
		api: template.api ? { examples: template.api.examples } : null,
		editor,
		/** The app's last lines of output, once it is ready (with JavaScript, the page then follows them live). */
		logs: logs ?? null,
		saved: editor && saved ? ({ path: editor.path, at: saved, reloaded: refresh === '1' } satisfies SavedFile) : null
	};
};

async function openEditor(platform: App.Platform | undefined, id: string, sources: EditableSources, file = sources.files[0]): Promise<EditorData> {
	let path: string;
	try {
		path = parseSourcePath(sources, file);
	} catch (e) {
		error(400, (e as SourceFileError).message);
	}
	const files = sources.files.includes(path) ? sources.files : [...sources.files, path];
	const reply = structuredCopy(await coordinatorOf(platform, id).readSource(path));
	if (reply.ok) return { files, path, content: reply.content, problem: null };
	if (reply.status === 409 || reply.status === 502) return { files, path, content: null, problem: reply.message };
	error(reply.status, reply.message);
}

export const actions: Actions = {
	/**
	 * Writes a source file into the sandbox, then redirects back to it (Post/Redirect/Get). The
	 * sandbox's dev server hot-reloads the change; when no browser is connected to it for that,
	 * the redirect says `refresh=1` and the page reloads the preview with a cache-busting URL.
	 */
	save: async ({ params, request, platform, locals }) => {
		const template = await requireOwnSandbox(platform, locals.visitor, params.id);
		const form = await readForm(request);
		const sources = template.editor;
		if (!sources) error(404, 'This template has no editable files.');

		const path = form.get('path');
		const content = form.get('content');
		// Sent back with every failure, so that nothing the visitor typed is lost.
		const echo = { path: typeof path === 'string' ? path : '', content: typeof content === 'string' ? content : '' };

		let file: string;
		let text: string;
		try {
			file = parseSourcePath(sources, path);
			text = parseSourceContent(content);
		} catch (e) {
			return fail((e as SourceFileError).status, { ...echo, error: (e as SourceFileError).message });
		}
		const reply = structuredCopy(await coordinatorOf(platform, params.id).writeSource(file, text));
		if (!reply.ok) return fail(reply.status, { ...echo, error: reply.message });
		const target = new URLSearchParams({ file, saved: String(Date.now()) });
		if (!reply.hotReloaded) target.set('refresh', '1');
		redirect(303, `/sandbox/${params.id}?${target}`);
	},

	/**
	 * The API console without JavaScript: makes the call (see $lib/api-console.ts) and answers the
	 * page with the whole exchange, gathered until the answer ends or the console's deadline.
	 */
	call: async ({ params, request, platform, locals }) => {
		const template = await requireOwnSandbox(platform, locals.visitor, params.id);
		if (!template.api) error(404, 'This sandbox has no API console.');
		// What was typed goes back with every answer, so that the form shows what was sent.
		const { typed: echo, call } = callFromForm(await readForm(request));
		if (!call.success) return fail(400, { console: { echo, error: call.issues[0].message, result: null } });
		const answer = await callSandboxApi(platform, params.id, call.output);
		if (!answer.ok || !answer.body) {
			const { message } = (await answer.json().catch(() => ({ message: 'The console could not reach the sandbox.' }))) as { message: string };
			return fail(answer.status, { console: { echo, error: message, result: null } });
		}
		let result = emptyResult(call.output);
		await readJsonLines<ConsolePart>(answer.body, (part) => (result = withPart(result, part)));
		return { console: { echo, error: null, result } };
	},

	/** Makes the preview public (anyone with its URL may open it) or private again (only this visitor). */
	share: async ({ params, request, platform, locals }) => {
		await requireOwnSandbox(platform, locals.visitor, params.id);
		const form = v.safeParse(ShareForm, Object.fromEntries(await readForm(request)));
		if (!form.success) error(400, form.issues[0].message);
		await coordinatorOf(platform, params.id).setPreviewAccess(form.output.access);
		redirect(303, `/sandbox/${params.id}`);
	},

	/** Starts the app again in its sandbox, with its files as they are (the page then follows the boot). */
	restart: async ({ params, request, platform, locals }) => {
		await requireOwnSandbox(platform, locals.visitor, params.id);
		await readForm(request);
		const reply = structuredCopy(await coordinatorOf(platform, params.id).restartApp());
		if (!reply.ok) error(reply.status, reply.message);
		redirect(303, `/sandbox/${params.id}`);
	},

	/** Destroys the visitor's sandbox now instead of at the idle TTL. */
	stop: async ({ params, request, platform, locals }) => {
		await requireOwnSandbox(platform, locals.visitor, params.id);
		// Nothing in the body is needed, but a stop takes only what our form sends, like every action.
		await readForm(request);
		await coordinatorOf(platform, params.id).stop('You stopped it.');
		redirect(303, '/');
	}
};
