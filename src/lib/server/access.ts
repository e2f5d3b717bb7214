import { error } from '@sveltejs/kit';
import { coordinatorOf } from './sandboxes';
import { templateOfId } from './sandbox-ids';
import type { Template } from './templates/catalog';
import { signingSecret } from './visitor';

/** The template of the sandbox `id` names; 404 for an ID that is none of ours (checked without a call). */
export async function requireSandboxId(id: string): Promise<Template> {
	const template = await templateOfId(signingSecret(), id);
	if (!template) error(404, 'No such sandbox');
	return template;
}

/**
 * The sandbox's template if it belongs to this visitor (`locals.visitor`, read once in
 * hooks.server.ts), as its coordinator records; 404 otherwise, whether it exists or not.
 */
export async function requireOwnSandbox(platform: App.Platform | undefined, visitor: string | null, id: string): Promise<Template> {
	const template = await requireSandboxId(id);
	if (!visitor || !(await coordinatorOf(platform, id).ownedBy(visitor))) error(404, 'No such sandbox');
	return template;
}
