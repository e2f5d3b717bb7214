import { error } from '@sveltejs/kit';
import { coordinatorOf } from './sandboxes';
import { templateOfId } from './sandbox-ids';
import type { Template } from './templates/catalog';

/** The template of the sandbox `id` names; 404 for an ID that is none of ours. */
export function requireSandboxId(id: string): Template {
	const template = templateOfId(id);
	if (!template) error(404, 'No such sandbox');
	return template;
}

/**
 * The sandbox's template if it belongs to this visitor (`locals.visitor`, read once in
 * hooks.server.ts), as its coordinator records; 404 otherwise, whether it exists or not.
 */
export async function requireOwnSandbox(platform: App.Platform | undefined, visitor: string | null, id: string): Promise<Template> {
	const template = requireSandboxId(id);
	if (!visitor || !(await coordinatorOf(platform, id).ownedBy(visitor))) error(404, 'No such sandbox');
	return template;
}
