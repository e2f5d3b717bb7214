/**
 * Plain HTTP to 127.0.0.1, with node:http rather than fetch: preview requests need their own Host
 * header (fetch sends the URL's), and the bench wants the moment the first byte arrived.
 */
import { request as httpRequest, type Agent } from 'node:http';

export interface Reply {
	status: number;
	headers: Record<string, string | string[] | undefined>;
	body: string;
	/** performance.now() when the response head arrived. */
	firstByteAt: number;
}

export interface SendOptions {
	method?: string;
	path?: string;
	headers?: Record<string, string>;
	body?: string;
	agent?: Agent;
}

export function send(port: number, { method = 'GET', path = '/', headers = {}, body, agent }: SendOptions = {}): Promise<Reply> {
	return new Promise((resolve, reject) => {
		const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
			const firstByteAt = performance.now();
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (chunk) => (text += chunk));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, firstByteAt }));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(body);
	});
}

const RETRY_MS = 5;
const GIVE_UP_MS = 60_000;

/** performance.now() when the first 200 arrived, asking again (every few ms) until one does. */
export async function firstOk(port: number, options: SendOptions = {}): Promise<number> {
	const deadline = performance.now() + GIVE_UP_MS;
	for (;;) {
		const reply = await send(port, options).catch(() => null);
		if (reply?.status === 200) return reply.firstByteAt;
		if (performance.now() > deadline) throw new Error(`127.0.0.1:${port}${options.path ?? '/'} answered no 200 within ${GIVE_UP_MS / 1000} s`);
		await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
	}
}
