import { error } from '@sveltejs/kit';
import { templateOf, type Template } from './templates/catalog';
import { ownedSandbox } from './visitor';

/**
 * The sandbox's template if it belongs to this visitor (`locals.visitor`, read once in
 * hooks.server.ts); 404 otherwise, whether it exists or not.
 */
export async function requireOwnSandbox(visitor: string | null, id: string): Promise<Template> {
	const template = templateOf((await ownedSandbox(visitor, id)) ?? '');
	if (!template) error(404, 'No such sandbox');
	return template;
}
