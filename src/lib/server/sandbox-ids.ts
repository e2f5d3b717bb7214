/**
 * Sandbox IDs: `{template}-{26 random hex digits}`, made by the server, never chosen by a client.
 * An ID names a sandbox (its coordinator, its container, its preview host) and says which template
 * it runs, so that a route knows the template without asking anyone; it says nothing of whose it
 * is. Ownership is its coordinator's to answer (`ownedBy`): a sandbox may be started ahead of any
 * visitor (a warm pool's, pool.ts) and given to one later.
 */
import * as v from 'valibot';
import { randomHex } from './signing';
import { templateOf, templates, type Template } from './templates/catalog';

const RANDOM_HEX = 26;

const ID = new RegExp(`^(${templates.map((t) => t.id).join('|')})-[0-9a-f]{${RANDOM_HEX}}$`);
// Checked as given, not lowercased: the IDs we issue are lowercase, and another spelling would be a second key.
const SandboxId = v.pipe(v.string(), v.regex(ID));

/** A new sandbox ID for `template`. */
export function newSandboxId(template: string): string {
	return `${template}-${randomHex(RANDOM_HEX)}`;
}

/** The template of a well-formed sandbox ID; undefined for anything else. */
export function templateOfId(id: string): Template | undefined {
	const parsed = v.safeParse(SandboxId, id);
	return parsed.success ? templateOf(ID.exec(parsed.output)![1]) : undefined;
}
