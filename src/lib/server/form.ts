/**
 * Reads a form action's body. SvelteKit passes `text/plain` on to actions (it is an HTML form
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
