/**
 * Sandbox IDs: `{template}-{10 random hex digits}{16 hex digits of their HMAC}`, made by the server
 * (the start gate, a warm pool), never chosen by a client. An ID names a sandbox (its coordinator,
 * its container, its preview host) and says which template it runs, so that a route knows the
 * template without asking anyone; its MAC (SESSION_SECRET) lets a route refuse an ID the server did
 * not make without a call. It says nothing of whose the sandbox is: ownership is its coordinator's
 * to answer (`ownedBy`), as a sandbox may be started ahead of any visitor (a pool's) and given to one later.
 */
import * as v from 'valibot';
import { randomHex, sameText, signature } from './signing';
import { templateOf, templates, type Template } from './templates/catalog';

const NONCE_HEX = 10;
const MAC_HEX = 16;

const ID = new RegExp(`^(${templates.map((t) => t.id).join('|')})-([0-9a-f]{${NONCE_HEX}})([0-9a-f]{${MAC_HEX}})$`);
// Checked as given, not lowercased: the IDs we issue are lowercase, and another spelling would be a second key.
const SandboxId = v.pipe(v.string(), v.regex(ID));

const macOf = (secret: string, template: string, nonce: string) => signature(secret, `sandbox:${template}-${nonce}`, MAC_HEX);

/** A new sandbox ID for `template`, signed with `secret` (SESSION_SECRET). */
export async function newSandboxId(secret: string, template: string): Promise<string> {
	const nonce = randomHex(NONCE_HEX);
	return `${template}-${nonce}${await macOf(secret, template, nonce)}`;
}

/** The template of a sandbox ID made with `secret`; undefined for anything else. */
export async function templateOfId(secret: string, id: string): Promise<Template | undefined> {
	const parsed = v.safeParse(SandboxId, id);
	if (!parsed.success) return undefined;
	const [, template, nonce, mac] = ID.exec(parsed.output)!;
	return sameText(await macOf(secret, template, nonce), mac) ? templateOf(template) : undefined;
}

/** SESSION_SECRET from a Durable Object's env, which makes sandbox IDs: without it, none can be made. */
export function idSecret(env: { SESSION_SECRET?: string }): string {
	if (!env.SESSION_SECRET) throw new Error('SESSION_SECRET is not set: it signs visitor cookies and sandbox IDs');
	return env.SESSION_SECRET;
}
