import { error } from '@sveltejs/kit';
import type { TemplateId } from '$lib/sandbox-state';
import { ownedSandbox } from './visitor';

/**
 * The sandbox's template if it belongs to this visitor (`locals.visitor`, read once in
 * hooks.server.ts); 404 otherwise, whether it exists or not.
 */
export async function requireOwnSandbox(visitor: string | null, id: string): Promise<TemplateId> {
	const template = await ownedSandbox(visitor, id);
	if (!template) error(404, 'No such sandbox');
	return template;
}
