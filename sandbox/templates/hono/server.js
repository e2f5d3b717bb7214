// Runs inside a sandbox: a small API on 0.0.0.0 (not 127.0.0.1: requests arrive at the container's
// own address). / and /health are open to anyone with the preview URL; /api/* needs the bearer
// token the app minted for this sandbox (API_TOKEN), which only the owner's console sends.
import { createHash, timingSafeEqual } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { logger } from 'hono/logger';
import { streamSSE } from 'hono/streaming';

const port = Number(process.env.PORT ?? 8080);
const sandboxId = process.env.SANDBOX_ID ?? 'unknown';
const token = process.env.API_TOKEN;
const MAX_NOTES = 100;

const app = new Hono();
// Every request and its answer on stdout: the page's log panel shows them as they happen.
app.use(logger());
const notes = [];
let nextNoteId = 1;

app.get('/', (c) =>
	c.html(`<!doctype html>
<meta charset="utf-8">
<title>Hono API</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem; color: #222 } h1 { overflow-wrap: anywhere } code { background: #f3f3f3; padding: 0 .25rem }</style>
<h1>Hono API in sandbox ${sandboxId}</h1>
<p>Open to anyone: <code>GET /health</code>.</p>
<p>Behind <code>Authorization: Bearer …</code> (try them from the API console beside this preview):</p>
<ul>
	<li><code>GET /api/notes</code>, <code>POST /api/notes</code> with <code>{ "text": "…" }</code>, <code>DELETE /api/notes/:id</code></li>
	<li><code>GET /api/events?count=5&amp;interval=300</code>: Server-Sent Events that end</li>
	<li><code>GET /api/clock</code>: Server-Sent Events that never end</li>
</ul>`)
);

app.get('/health', (c) => c.json({ ok: true, uptime: process.uptime() }));

/** Compares digests, so that neither the token's content nor its length shows in the time taken. */
function isToken(given) {
	const digest = (text) => createHash('sha256').update(text).digest();
	return typeof token === 'string' && token.length > 0 && timingSafeEqual(digest(given), digest(token));
}

// 401 without a token, 403 with a wrong one (and with any, should the sandbox have none: closed).
app.use('/api/*', async (c, next) => {
	const given = /^Bearer +(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
	if (!given) return c.json({ error: 'This API needs an Authorization: Bearer token.' }, 401, { 'www-authenticate': 'Bearer' });
	if (!isToken(given)) return c.json({ error: 'That is not this sandbox’s token.' }, 403);
	await next();
});

app.get('/api/notes', (c) => c.json({ notes }));

app.post('/api/notes', async (c) => {
	const body = await c.req.json().catch(() => null);
	const text = typeof body?.text === 'string' ? body.text.trim() : '';
	if (!text || text.length > 500) return c.json({ error: 'Send JSON like { "text": "…" }, with 1–500 characters of text.' }, 400);
	if (notes.length >= MAX_NOTES) return c.json({ error: `There are ${MAX_NOTES} notes already: delete one first.` }, 409);
	const note = { id: nextNoteId++, text, createdAt: new Date().toISOString() };
	notes.push(note);
	return c.json({ note }, 201);
});

app.delete('/api/notes/:id', (c) => {
	const index = notes.findIndex((note) => String(note.id) === c.req.param('id'));
	if (index === -1) return c.json({ error: 'No such note.' }, 404);
	notes.splice(index, 1);
	return c.body(null, 204);
});

/** A whole number from the query, within bounds. */
function queryNumber(c, name, fallback, min, max) {
	const value = Number(c.req.query(name) ?? fallback);
	return Number.isInteger(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

// `count` numbered `tick` events, `interval` ms apart, then `done`; then the stream ends.
app.get('/api/events', (c) => {
	const count = queryNumber(c, 'count', 5, 1, 50);
	const interval = queryNumber(c, 'interval', 300, 10, 5000);
	return streamSSE(c, async (stream) => {
		for (let n = 1; n <= count && !stream.aborted; n++) {
			await stream.writeSSE({ event: 'tick', id: String(n), data: JSON.stringify({ n, of: count, at: new Date().toISOString() }) });
			if (n < count) await stream.sleep(interval);
		}
		await stream.writeSSE({ event: 'done', data: JSON.stringify({ sent: count }) });
	});
});

// The time, every second, for as long as the client listens.
app.get('/api/clock', (c) =>
	streamSSE(c, async (stream) => {
		for (let n = 1; !stream.aborted; n++) {
			await stream.writeSSE({ event: 'time', id: String(n), data: new Date().toISOString() });
			await stream.sleep(1000);
		}
	})
);

serve({ fetch: app.fetch, port, hostname: '0.0.0.0' }, () => console.log(`hono listening on 0.0.0.0:${port}`));
