/**
 * The API console's call, from the page's script: a JSON `ApiCall` in, the answer's parts out, one
 * JSON object per line as they arrive (see $lib/api-console.ts). The page's form posts the same
 * call to its `call` action when JavaScript is off.
 */
import { json } from '@sveltejs/kit';
import * as v from 'valibot';
import { requireOwnSandbox } from '$lib/server/access';
import { ApiCallSchema } from '$lib/server/api-console';
import { readJson } from '$lib/server/form';
import { callSandboxApi } from '$lib/server/sandboxes';
import type { RequestHandler } from './$types';

/** A call's body may be 64 KiB; its JSON wrapping a little more. */
const MAX_CALL_BYTES = 80 * 1024;

export const POST: RequestHandler = async ({ params, request, platform, locals }) => {
	const template = await requireOwnSandbox(platform, locals.visitor, params.id);
	if (!template.api) return json({ message: 'This sandbox has no API console.' }, { status: 404 });
	const call = v.safeParse(ApiCallSchema, await readJson(request, MAX_CALL_BYTES));
	if (!call.success) return json({ message: call.issues[0].message }, { status: 400 });

	const answer = await callSandboxApi(platform, params.id, call.output);
	// A response of our own: one from another object's fetch has headers SvelteKit may not change.
	return new Response(answer.body, { status: answer.status, headers: { 'content-type': answer.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' } });
};
