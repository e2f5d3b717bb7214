/**
 * Reads request bodies: a form action's, and a JSON endpoint's (`readJson`).
 *
 * A form action's body: SvelteKit passes `text/plain` on to actions (it is an HTML form
 * encoding), but `request.formData()` cannot parse it — nor a multipart body that is not one — and
 * throws, which SvelteKit answers with a 500. Every action reads its body here instead: 415 for
 * anything but the two encodings our forms send, 400 for a body that does not parse as one.
 */
import { error } from '@sveltejs/kit';
import * as v from 'valibot';

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'] as const;

const FormContentType = v.pipe(
	v.optional(v.string(), ''),
	v.transform((header) => header.split(';')[0].trim().toLowerCase()),
	v.picklist(FORM_TYPES, (issue) => `Form actions take ${FORM_TYPES.join(' or ')}, not ${issue.input || 'a body without a Content-Type'}`)
);

export async function readForm(request: Request): Promise<FormData> {
	const type = v.safeParse(FormContentType, request.headers.get('content-type') ?? undefined);
	if (!type.success) error(415, type.issues[0].message);
	try {
		return await request.formData();
	} catch {
		error(400, `The body is not valid ${type.output} data`);
	}
}

/**
 * A JSON request body of at most `maxBytes` (a larger one is not read past the limit): 415 for
 * another Content-Type, 413 for too large, 400 for a body that is not JSON.
 */
export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
	if (request.headers.get('content-type')?.split(';')[0].trim().toLowerCase() !== 'application/json') {
		error(415, 'Send the body as application/json.');
	}
	const chunks: Uint8Array<ArrayBuffer>[] = [];
	let size = 0;
	if (request.body) {
		const reader = request.body.getReader();
		for (let next = await reader.read(); !next.done; next = await reader.read()) {
			size += next.value.byteLength;
			if (size > maxBytes) {
				await reader.cancel();
				error(413, `The body may be up to ${Math.floor(maxBytes / 1024)} KiB.`);
			}
			chunks.push(new Uint8Array(next.value));
		}
	}
	const text = await new Blob(chunks).text();
	try {
		return JSON.parse(text);
	} catch {
		error(400, 'The body is not valid JSON.');
	}
}
