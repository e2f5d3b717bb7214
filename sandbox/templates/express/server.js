// Runs inside a sandbox: a small JSON API on 0.0.0.0:3001 (port 3000 belongs to the container's control plane).
import express from 'express';

const app = express();
const port = Number(process.env.PORT ?? 3001);
const sandboxId = process.env.SANDBOX_ID ?? 'unknown';
const startedAt = new Date().toISOString();
let visits = 0;

app.get('/', (req, res) => {
	visits += 1;
	// Deliberately cacheable: a preview must still show every visit, never a cached copy.
	res.set('cache-control', 'public, max-age=60');
	res.json({
		message: `Hello from sandbox ${sandboxId}`,
		sandbox: sandboxId,
		startedAt,
		visits,
		node: process.version,
		path: req.path
	});
});

app.get('/health', (req, res) => {
	res.json({ ok: true, uptime: process.uptime() });
});

// What reached the server: the method, path and headers of this request (the preview's own cookies
// and the app's never do).
app.get('/request', (req, res) => {
	res.json({ method: req.method, path: req.path, headers: req.headers });
});

app.listen(port, '0.0.0.0', () => {
	console.log(`express listening on 0.0.0.0:${port}`);
});
