import { error, fail, redirect } from '@sveltejs/kit';
import * as v from 'valibot';
import type { EditorData, SavedFile } from '$lib/sandbox-state';
import { requireOwnSandbox } from '$lib/server/access';
import { readForm } from '$lib/server/form';
import { sandboxManager, startSandbox } from '$lib/server/sandboxes';
import { parseSourceContent, parseSourcePath, readSource, SourceFileError, writeSource } from '$lib/server/source-files';
import { templates, type EditableSources } from '$lib/server/templates';
import type { Actions, PageServerLoad } from './$types';

/** `?file=` picks the editor's file; `saved` and `refresh` are set by the redirect after a save. */
const Query = v.object({
	file: v.optional(v.string()),
	saved: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'saved must be a timestamp'), v.transform(Number))),
	refresh: v.optional(v.literal('1', 'refresh can only be 1'))
});

export const load: PageServerLoad = async ({ params, request, url, platform, setHeaders }) => {
	const template = await requireOwnSandbox(request, params.id);
	setHeaders({ 'cache-control': 'no-store' });
	const query = v.safeParse(Query, Object.fromEntries(url.searchParams));
	if (!query.success) error(400, query.issues[0].message);

	// Idempotent: after a restart this recovers the running app instead of starting over.
	const state = startSandbox({ url, platform }, params.id, template);
	const sources = templates[template].sources;
	const editor = sources && state.status === 'ready' ? await openEditor(params.id, sources, query.output.file) : null;
	const { saved, refresh } = query.output;
	return {
		state,
		/** Whether this template has an editor at all (its files load once the sandbox is ready). */
		editable: Boolean(sources),
		editor,
		saved: editor && saved ? ({ path: editor.path, at: saved, reloaded: refresh === '1' } satisfies SavedFile) : null
	};
};

async function openEditor(id: string, sources: EditableSources, file = sources.files[0]): Promise<EditorData> {
	let path: string;
	try {
		path = parseSourcePath(sources, file);
	} catch (e) {
		error(400, (e as SourceFileError).message);
	}
	const files = sources.files.includes(path) ? sources.files : [...sources.files, path];
	const sandbox = await sandboxManager().readySandbox(id);
	if (!sandbox) return { files, path, content: null, problem: 'The sandbox is not running right now.' };
	try {
		return { files, path, content: await readSource(sandbox, path), problem: null };
	} catch (e) {
		if (e instanceof SourceFileError) error(e.status, e.message);
		console.error(`[editor] reading ${path} in ${id} failed`, e);
		return { files, path, content: null, problem: `${path} could not be read from the sandbox.` };
	}
}

export const actions: Actions = {
	/**
	 * Writes a source file into the sandbox, then redirects back to it (Post/Redirect/Get). The
	 * sandbox's dev server hot-reloads the change; when no browser is connected to it for that,
	 * the redirect says `refresh=1` and the page reloads the preview with a cache-busting URL.
	 */
	save: async ({ params, request, url, platform }) => {
		const template = await requireOwnSandbox(request, params.id);
		const form = await readForm(request);
		const sources = templates[template].sources;
		if (!sources) error(404, 'This template has no editable files.');

		const path = form.get('path');
		const content = form.get('content');
		// Sent back with every failure, so that nothing the visitor typed is lost.
		const echo = { path: typeof path === 'string' ? path : '', content: typeof content === 'string' ? content : '' };

		let file: string;
		let hotReloaded: boolean;
		try {
			file = parseSourcePath(sources, path);
			const text = parseSourceContent(content);
			const state = startSandbox({ url, platform }, params.id, template);
			const sandbox = state.status === 'ready' ? await sandboxManager().readySandbox(params.id) : null;
			if (!sandbox) {
				return fail(409, { ...echo, error: 'The sandbox is not running right now. Wait until it is ready, then save again.' });
			}
			await writeSource(sandbox, file, text);
			hotReloaded = (await sources.liveClients(sandbox).catch(() => 0)) > 0;
		} catch (e) {
			if (e instanceof SourceFileError) return fail(e.status, { ...echo, error: e.message });
			console.error(`[editor] saving ${String(path)} in ${params.id} failed`, e);
			return fail(502, { ...echo, error: 'The sandbox did not take the file. Try saving again.' });
		}
		const target = new URLSearchParams({ file, saved: String(Date.now()) });
		if (!hotReloaded) target.set('refresh', '1');
		redirect(303, `/sandbox/${params.id}?${target}`);
	},

	/** Destroys the visitor's sandbox now instead of at the idle TTL. */
	stop: async ({ params, request }) => {
		await requireOwnSandbox(request, params.id);
		// Nothing in the body is needed, but a stop takes only what our form sends, like every action.
		await readForm(request);
		await sandboxManager().destroy(params.id);
		redirect(303, '/');
	}
};
