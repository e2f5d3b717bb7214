/**
 * A hostile world: requests no browser of ours sends — unreadable WebSocket frames, malformed heads,
 * non-form bodies, hosts that only look like previews, duplicate cookies, posts from another site.
 * Each gets its own 4xx (or close code) and nothing else: the server lives, other visitors and
 * the visitor's sandbox are untouched. Sent from Node (raw sockets, fetch, `ws`), not a browser.
 */
import { connect } from 'node:net';
import { expect, test } from '@playwright/test';
import WebSocket from 'ws';
import { fetchPreview, previewCookie, previewJson, SANDBOX_PATH, startSandbox } from './helpers.ts';

interface Visitor {
	cookie: string;
	id: string;
}

/** Posts the start form as a browser would (same Origin), and returns the visitor's cookie and sandbox. */
async function startAsVisitor(origin: string): Promise<Visitor> {
	const response = await fetch(`${origin}/?/start`, {
		method: 'POST',
		redirect: 'manual',
		headers: { origin, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
		body: 'template=express'
	});
	expect(response.status).toBe(303);
	return {
		cookie: response.headers.get('set-cookie')!.split(';')[0],
		id: SANDBOX_PATH.exec(response.headers.get('location')!)![1]
	};
}

/** Waits for the sandbox to be ready and returns its preview URL. */
async function readyPreview(origin: string, { cookie, id }: Visitor): Promise<string> {
	let previewUrl: string | null = null;
	await expect(async () => {
		const { state } = await (await fetch(`${origin}/api/sandbox/${id}/state`, { headers: { cookie } })).json();
		expect(state.status).toBe('ready');
		previewUrl = state.previewUrl;
	}).toPass({ timeout: 30_000 });
	return previewUrl!;
}

/**
 * One request written byte for byte; answers the status code and the (de-chunked) body. With
 * `headOnly`, answers once the head is in (an upgrade's connection may stay open after it).
 */
function rawRequest(port: string, head: string, { body = '', headOnly = false } = {}): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		const socket = connect(Number(port), '127.0.0.1', () => socket.write(`${head.split('\n').join('\r\n')}\r\n\r\n${body}`));
		const chunks: Buffer[] = [];
		const answer = () => {
			const received = Buffer.concat(chunks);
			const end = received.indexOf('\r\n\r\n');
			const head = received.subarray(0, end).toString();
			const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
			if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(head.slice(0, 200))}`));
			const content = received.subarray(end + 4);
			resolve({ status: Number(status[1]), body: (/^transfer-encoding: chunked/im.test(head) ? unchunk(content) : content).toString() });
		};
		socket.on('data', (chunk) => {
			chunks.push(chunk);
			if (headOnly && Buffer.concat(chunks).includes('\r\n\r\n')) socket.destroy();
		});
		socket.on('error', reject);
		socket.on('close', answer);
	});
}

function unchunk(body: Buffer): Buffer {
	const parts: Buffer[] = [];
	for (let at = 0; ; ) {
		const line = body.indexOf('\r\n', at);
		const size = parseInt(body.subarray(at, line).toString(), 16);
		if (!size) return Buffer.concat(parts);
		parts.push(body.subarray(line + 2, line + 2 + size));
		at = line + 2 + size + 2;
	}
}

/** Writes `head`, then at once half-closes the connection (`end`) or resets it, and waits for it to close. */
function sendThenHangUp(port: string, head: string, end: 'end' | 'resetAndDestroy'): Promise<void> {
	return new Promise((resolve) => {
		const socket = connect(Number(port), '127.0.0.1', () => {
			socket.write(`${head.split('\n').join('\r\n')}\r\n\r\n`);
			socket[end]();
		});
		socket.on('error', () => {});
		socket.on('close', () => resolve());
		socket.setTimeout(5_000, () => socket.destroy());
	});
}

/** Opens the visitor's status socket, waits for its first message, sends `frame` and answers the close code. */
function closeCodeAfter(origin: string, { cookie, id }: Visitor, frame: Buffer): Promise<number> {
	return new Promise((resolve, reject) => {
		const socket = new WebSocket(`${origin.replace('http', 'ws')}/api/sandbox/${id}/ws`, { headers: { cookie, origin } });
		// `binary: false` sends the bytes as a text frame as they are: `ws` validates what it receives, not what it sends.
		socket.once('message', () => socket.send(frame, { binary: false }));
		socket.on('close', (code) => resolve(code));
		socket.on('error', () => {}); // e.g. a reset while still sending: 'close' follows, and its code tells
		socket.on('unexpected-response', (_, response) => reject(new Error(`handshake answered ${response.statusCode}`)));
	});
}

test.describe('the status WebSocket', () => {
	test('a frame it cannot read closes that socket alone (1007, 1009); the server lives on for everyone', async ({ page, baseURL }) => {
		const visitor = await startAsVisitor(baseURL!);
		expect(await closeCodeAfter(baseURL!, visitor, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toBe(1007);
		expect(await closeCodeAfter(baseURL!, visitor, Buffer.alloc(128 * 1024 + 1, 'a'))).toBe(1009);

		// The visitor's own sandbox and a new visitor are served as ever.
		expect((await fetch(`${baseURL}/api/sandbox/${visitor.id}/state`, { headers: { cookie: visitor.cookie } })).status).toBe(200);
		const id = await startSandbox(page);
		expect((await previewJson(page)).sandbox).toBe(id);
	});
	test('a handshake without a key, or a browser that goes away at once, fails alone: the server lives on', async ({ baseURL }) => {
		const visitor = await startAsVisitor(baseURL!);
		await readyPreview(baseURL!, visitor);
		const port = new URL(baseURL!).port;
		const handshake = (key: string) =>
			`GET /api/sandbox/${visitor.id}/ws HTTP/1.1\nHost: localhost:${port}\nOrigin: ${baseURL}\nCookie: ${visitor.cookie}\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13${key}`;
		const keyless = await rawRequest(port, handshake(''), { headOnly: true });
		expect(keyless.status).toBeGreaterThanOrEqual(400);
		expect(keyless.status).toBeLessThan(500);
		// Closing tabs, three at once: the handshake, then at once a half-close — or a reset. (workerd
		// keeps a half-closed socket until the client's timeout: side by side, they wait once.)
		for (const end of ['end', 'resetAndDestroy'] as const) {
			await Promise.all([1, 2, 3].map(() => sendThenHangUp(port, handshake('\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='), end)));
		}
		// The server, the visitor's sandbox and its socket are all still there.
		expect((await fetch(`${baseURL}/api/sandbox/${visitor.id}/state`, { headers: { cookie: visitor.cookie } })).status).toBe(200);
		expect(await closeCodeAfter(baseURL!, visitor, Buffer.from('hi'))).toBe(1008);
	});
});

test.describe('malformed requests', () => {
	test('a form action given what no form of ours sends answers 415 or 400, never 500', async ({ baseURL }) => {
		const port = new URL(baseURL!).port;
		const head = (path: string, type: string, length: number, cookie = '') =>
			`POST ${path} HTTP/1.1\nHost: localhost:${port}\nOrigin: ${baseURL}\nAccept: text/html\nContent-Type: ${type}\nContent-Length: ${length}\nConnection: close${cookie && `\nCookie: ${cookie}`}`;

		const start = await rawRequest(port, head('/?/start', 'text/plain', 16), { body: 'template=express' });
		expect(start.status).toBe(415);
		expect(start.body).toContain('Form actions take application/x-www-form-urlencoded or multipart/form-data, not text/plain');

		const visitor = await startAsVisitor(baseURL!);
		const previewUrl = await readyPreview(baseURL!, visitor);
		for (const action of ['stop', 'save']) {
			const answer = await rawRequest(port, head(`/sandbox/${visitor.id}?/${action}`, 'text/plain', 3, visitor.cookie), { body: 'a=b' });
			expect(answer.status, action).toBe(415);
		}
		const broken = await rawRequest(port, head('/?/start', 'multipart/form-data; boundary=x', 5), { body: 'hello' });
		expect(broken.status).toBe(400);
		expect(broken.body).toContain('The body is not valid multipart/form-data data');
		// None of it stopped the sandbox.
		expect((await fetchPreview(previewUrl, await previewCookie(baseURL!, visitor.cookie, visitor.id))).status).toBe(200);
	});

	test('a Host with userinfo, an absolute-form target or a malformed path is refused or served, never a 500', async ({ baseURL }, testInfo) => {
		const port = new URL(baseURL!).port;
		const userinfo = await rawRequest(port, `GET / HTTP/1.1\nHost: user@localhost:${port}\nConnection: close`);
		// workerd strips the userinfo itself before the worker sees the request, and serves the page.
		expect(userinfo.status).toBe(testInfo.project.name === 'worker' ? 200 : 400);
		if (userinfo.status === 400) expect(userinfo.body).toContain('no user name');

		const absolute = await rawRequest(port, `GET http://localhost:${port}/ HTTP/1.1\nHost: localhost:${port}\nConnection: close`);
		expect(absolute.status).toBe(200);
		expect(absolute.body).toContain('Start a sandbox');

		const malformed = await rawRequest(port, `GET /% HTTP/1.1\nHost: localhost:${port}\nConnection: close`);
		expect(malformed.status).toBe(400);
		const noHost = await rawRequest(port, 'GET / HTTP/1.0');
		expect(noHost.status).toBe(400);
	});

	test("a host that is not the app's is refused, with its preview hosts: a DNS-rebinding page gets nothing", async ({ baseURL }, testInfo) => {
		const port = new URL(baseURL!).port;
		// Refused before anything looks at the sandbox: a well-formed preview label does.
		const previewLabel = '3001-express-0123456789abcdef012345-tok';
		// A name of the attacker's that resolves to 127.0.0.1: the browser sends it as the Host.
		const page = await rawRequest(port, `GET / HTTP/1.1\nHost: rebind.attacker.example:${port}\nConnection: close`);
		// Vite refuses unknown hosts itself (403) before the app's own check (421).
		expect(page.status).toBe(testInfo.project.name === 'vite-dev' ? 403 : 421);
		const start = await rawRequest(
			port,
			`POST /?/start HTTP/1.1\nHost: rebind.attacker.example:${port}\nOrigin: http://rebind.attacker.example:${port}\nAccept: text/html\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 16\nConnection: close`,
			{ body: 'template=express' }
		);
		expect(start.status).toBe(testInfo.project.name === 'vite-dev' ? 403 : 421);
		const preview = await rawRequest(port, `GET / HTTP/1.1\nHost: ${previewLabel}.rebind.attacker.example:${port}\nConnection: close`);
		expect(preview.status).toBe(testInfo.project.name === 'vite-dev' ? 403 : 421);
		// A preview's WebSocket upgrade too (under vite dev it reaches the companion, which refuses it).
		const upgrade = await rawRequest(
			port,
			`GET / HTTP/1.1\nHost: ${previewLabel}.rebind.attacker.example:${port}\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==`,
			{ headOnly: true }
		);
		expect(upgrade.status).toBe(421);
	});

	test('request heads the app cannot serve get 4xx from our code, and never stop the server', async ({ baseURL }, testInfo) => {
		const port = new URL(baseURL!).port;
		const heads = {
			'a port past 65535': `GET / HTTP/1.1\nHost: localhost:99999\nConnection: close`,
			'a space in the Host': `GET / HTTP/1.1\nHost: local host:${port}\nConnection: close`,
			'an unclosed IPv6 literal': `GET / HTTP/1.1\nHost: [::1:${port}\nConnection: close`,
			'OPTIONS *': `OPTIONS * HTTP/1.1\nHost: localhost:${port}\nConnection: close`,
			CONNECT: `CONNECT localhost:${port} HTTP/1.1\nHost: localhost:${port}\nConnection: close`,
			'two Hosts': `GET / HTTP/1.1\nHost: localhost:${port}\nHost: evil.example\nConnection: close`
		};
		for (const [what, head] of Object.entries(heads)) {
			const answer = await rawRequest(port, head).catch(() => ({ status: 0, body: 'connection closed without an answer' }));
			if (testInfo.project.name === 'vite-dev') {
				expect(answer.status, what).toBeGreaterThanOrEqual(400);
				expect(answer.status, what).toBeLessThan(500);
			} else {
				// wrangler's own dev proxy answers these itself, with a 500, before any worker code runs
				// (README: Safety); on Cloudflare the edge refuses them. The server goes on all the same.
				expect(answer.status, what).not.toBe(200);
			}
			expect((await fetch(`${baseURL}/`)).status, `after ${what}`).toBe(200);
		}
		const chunked = await rawRequest(
			port,
			`POST /?/start HTTP/1.1\nHost: localhost:${port}\nOrigin: ${baseURL}\nAccept: text/html\nContent-Type: application/x-www-form-urlencoded\nTransfer-Encoding: chunked\nConnection: close`,
			{ body: 'zz\r\ntemplate=express\r\n0\r\n\r\n' }
		).catch(() => ({ status: 0, body: '' }));
		expect(chunked.status).not.toBe(200);
		expect(chunked.status).not.toBe(303);
		expect((await fetch(`${baseURL}/`)).status, 'after a bad chunk size').toBe(200);
	});

	test('a start on a *.workers.dev host is refused at once, saying what to configure, and makes nothing', async ({ baseURL }, testInfo) => {
		// Vite's dev server refuses unknown hosts before the app sees them: a deployment's concern only.
		test.skip(testInfo.project.name !== 'worker', 'workers.dev hosts reach only the deployed worker');
		const port = new URL(baseURL!).port;
		const host = 'sandbox-previews.example.workers.dev';
		const answer = await rawRequest(
			port,
			`POST /?/start HTTP/1.1\nHost: ${host}\nOrigin: http://${host}\nAccept: text/html\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 16\nConnection: close`,
			{ body: 'template=express' }
		);
		expect(answer.status).toBe(400);
		expect(answer.body).toContain('Preview URLs need a custom domain');
		expect(answer.body).toContain('docs/deployment.md');
		// No visitor, no sandbox: the refusal came before either was made.
		expect(answer.body).not.toContain('/sandbox/');
	});

	test("a host that looks like a preview but breaks the SDK's rules gets 404, never the app", async ({ baseURL }) => {
		const visitor = await startAsVisitor(baseURL!);
		const previewUrl = new URL(await readyPreview(baseURL!, visitor));
		const [, token] = /^3001-.+-([a-z0-9_]+)$/.exec(previewUrl.hostname.split('.')[0])!;
		const appHost = new URL(baseURL!).host;
		const hosts = [
			`3000-${visitor.id}-${token}.${appHost}`, // the container's control plane
			`80-${visitor.id}-${token}.${appHost}`, // below 1024
			`3001-${'a'.repeat(64)}-${token}.${appHost}`, // a label over 63 characters
			`3001-www-${token}.${appHost}` // a reserved ID
		];
		for (const host of hosts) {
			const answer = await rawRequest(previewUrl.port, `GET / HTTP/1.1\nHost: ${host}\nConnection: close`);
			expect(answer.status, host).toBe(404);
			expect(JSON.parse(answer.body), host).toMatchObject({ code: 'INVALID_TOKEN' });
			// Upgrades too: not the app's socket route, nor the dev server's own HMR socket.
			const upgrade = await rawRequest(
				previewUrl.port,
				`GET /api/sandbox/${visitor.id}/ws HTTP/1.1\nHost: ${host}\nCookie: ${visitor.cookie}\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==`,
				{ headOnly: true }
			);
			expect(upgrade.status, `${host} upgrade`).toBe(404);
		}
		// The real preview host still works.
		expect((await fetchPreview(previewUrl.href, await previewCookie(baseURL!, visitor.cookie, visitor.id))).status).toBe(200);
	});
});

test.describe('duplicate visitor cookies', () => {
	test("prove no visitor: 404 for the sandbox's page, state, socket and actions in either order; 400 to start", async ({ baseURL }) => {
		const alice = await startAsVisitor(baseURL!);
		const bob = await startAsVisitor(baseURL!);
		const previewUrl = await readyPreview(baseURL!, alice);
		const send = (path: string, cookie: string, init: RequestInit = {}) =>
			fetch(`${baseURL}${path}`, { ...init, redirect: 'manual', headers: { cookie, origin: baseURL!, accept: 'text/html', ...init.headers } });
		const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'path=src%2FApp.vue&content=x' };

		for (const cookie of [`${alice.cookie}; ${bob.cookie}`, `${bob.cookie}; ${alice.cookie}`, `${alice.cookie}; ${alice.cookie}`]) {
			expect((await send(`/sandbox/${alice.id}`, cookie)).status, cookie).toBe(404);
			expect((await send(`/api/sandbox/${alice.id}/state`, cookie)).status, cookie).toBe(404);
			expect((await send(`/sandbox/${alice.id}?/save`, cookie, form)).status, cookie).toBe(404);
			expect((await send(`/sandbox/${alice.id}?/stop`, cookie, form)).status, cookie).toBe(404);
			const socket = await new Promise<string>((resolve) => {
				const ws = new WebSocket(`${baseURL!.replace('http', 'ws')}/api/sandbox/${alice.id}/ws`, { headers: { cookie, origin: baseURL! } });
				ws.on('open', () => resolve('open'));
				ws.on('unexpected-response', (_, response) => resolve(String(response.statusCode)));
				ws.on('error', () => {});
			});
			expect(socket, cookie).toBe('404');

			const start = await send('/?/start', cookie, { ...form, body: 'template=express' });
			expect(start.status, cookie).toBe(400);
			expect(await start.text()).toContain('two visitor cookies');
		}
		// Alice, with her one cookie, still has her running sandbox.
		expect((await send(`/api/sandbox/${alice.id}/state`, alice.cookie)).status).toBe(200);
		expect((await fetchPreview(previewUrl, await previewCookie(baseURL!, alice.cookie, alice.id))).status).toBe(200);
	});
});

test.describe('reads from another origin', () => {
	test("are granted to nobody — a preview page least of all (it is a *.localhost page)", async ({ baseURL }) => {
		const port = new URL(baseURL!).port;
		for (const origin of [`http://3001-express-0123456789abcdef0123456789-tok.localhost:${port}`, 'http://evil.example']) {
			for (const path of ['/', '/@vite/client', '/src/routes/+page.svelte']) {
				const read = await fetch(`${baseURL}${path}`, { headers: { origin } });
				expect(read.headers.get('access-control-allow-origin'), `${origin} ${path}`).toBeNull();
				const preflight = await fetch(`${baseURL}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
				expect(preflight.headers.get('access-control-allow-origin'), `${origin} ${path} preflight`).toBeNull();
			}
		}
	});
});

test.describe('posts from another site', () => {
	test('get 403 and change nothing; the same post from the app itself stops the sandbox', async ({ baseURL }) => {
		const visitor = await startAsVisitor(baseURL!);
		const previewUrl = await readyPreview(baseURL!, visitor);
		const previewAccess = await previewCookie(baseURL!, visitor.cookie, visitor.id);
		const stop = (headers: Record<string, string>) =>
			fetch(`${baseURL}/sandbox/${visitor.id}?/stop`, {
				method: 'POST',
				redirect: 'manual',
				headers: { cookie: visitor.cookie, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...headers },
				body: ''
			});

		const foreign = await stop({ origin: 'http://evil.example' });
		expect(foreign.status).toBe(403);
		expect(await foreign.text()).toContain('Cross-site POST');
		// A page served by a sandbox is the same site as the app (a subdomain): its cookie goes along.
		expect((await stop({ origin: new URL(previewUrl).origin })).status).toBe(403);
		expect((await stop({})).status).toBe(403); // a form without any Origin, as SvelteKit refuses it
		expect((await fetchPreview(previewUrl, previewAccess)).status).toBe(200);

		const own = await stop({ origin: baseURL! });
		expect(own.status).toBe(303);
		expect((await fetchPreview(previewUrl, previewAccess)).status).toBe(404);
	});
});
