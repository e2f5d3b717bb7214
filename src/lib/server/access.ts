import { error } from '@sveltejs/kit';
import type { TemplateId } from '$lib/sandbox-state';
import { ownedSandbox, readVisitor } from './visitor';

/** The sandbox's template if it belongs to this visitor; 404 otherwise, whether it exists or not. */
export async function requireOwnSandbox(request: Request, id: string): Promise<TemplateId> {
	const template = await ownedSandbox(await readVisitor(request.headers.get('cookie')), id);
	if (!template) error(404, 'No such sandbox');
	return template;
}
