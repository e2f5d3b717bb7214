/**
 * Preview URLs hang off the app's own origin, scheme and port included. The SDK builds them right
 * only for localhost: for any other host it assumes HTTPS on the default port (and given a port,
 * it returns the app's own URL), so it is given the hostname alone and the app adds the rest.
 */
import { describe, expect, it } from 'vitest';
import { parsePreviewHost, previewUrlFor } from '../../src/lib/server/sandbox/rules.ts';

describe('previewUrlFor', () => {
	it.each([
		// What the SDK returned, the app's origin, the preview URL.
		['http://3001-express-ab12-tok3n.localhost:5173/', 'http://localhost:5173', 'http://3001-express-ab12-tok3n.localhost:5173/'],
		['https://3001-express-ab12-tok3n.preview.example.com/', 'https://preview.example.com', 'https://3001-express-ab12-tok3n.preview.example.com/'],
		// A custom port off localhost, put back.
		['https://3001-express-ab12-tok3n.preview.example.com/', 'https://preview.example.com:8443', 'https://3001-express-ab12-tok3n.preview.example.com:8443/'],
		// localhost given without its port: the SDK's URL has none.
		['http://3001-express-ab12-tok3n.localhost/', 'http://localhost:5173', 'http://3001-express-ab12-tok3n.localhost:5173/'],
		// Plain HTTP on a host that is not localhost: the app's scheme, not the SDK's guess.
		['https://5173-vue-cd34-tok3n.dev.internal/', 'http://dev.internal:8080', 'http://5173-vue-cd34-tok3n.dev.internal:8080/']
	])('%s on %s → %s', (sdkUrl, origin, expected) => {
		expect(previewUrlFor(sdkUrl, origin)).toBe(expected);
	});

	it('gives a URL whose host routes back to the sandbox, port and token', () => {
		const url = previewUrlFor('https://3001-express-ab12-tok3n.preview.example.com/', 'https://preview.example.com:8443');
		expect(parsePreviewHost(new URL(url).host)).toEqual({ port: 3001, sandboxId: 'express-ab12', token: 'tok3n' });
	});
});
