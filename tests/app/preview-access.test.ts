import { describe, expect, it } from 'vitest';
import { foreignHostProblem } from '../../src/lib/server/app-hosts.ts';
import { issueTicket, redeemTicket, TICKET_TTL_MS, type Tickets } from '../../src/lib/server/durable-objects/preview-tickets.ts';
import { checkPreviewCookie, previewCookie, withoutOurCookies } from '../../src/lib/server/preview-access.ts';

const SECRET = 'a-test-secret-of-enough-length';
const previewUrl = new URL('http://3001-express-0123456789abcdef012345-tok.localhost:5173/');
const withCookie = (cookie: string) => new Request(previewUrl, { headers: { cookie } });

describe('preview tickets', () => {
	it('work once, within their minute, and only as issued', () => {
		const now = 1_000_000;
		const { ticket, tickets } = issueTicket({}, now);
		expect(redeemTicket(tickets, 'f'.repeat(32), now).valid).toBe(false);
		const first = redeemTicket(tickets, ticket, now + 1000);
		expect(first.valid).toBe(true);
		expect(redeemTicket(first.tickets, ticket, now + 2000).valid).toBe(false);
		expect(redeemTicket(tickets, ticket, now + TICKET_TTL_MS + 1).valid).toBe(false);
	});

	it('are kept to a few at once, the oldest and the expired dropped', () => {
		let tickets: Tickets = {};
		for (let i = 0; i < 40; i++) tickets = issueTicket(tickets, 1000 + i).tickets;
		expect(Object.keys(tickets)).toHaveLength(32);
		const later = issueTicket(tickets, 1000 + TICKET_TTL_MS + 100);
		expect(Object.keys(later.tickets)).toEqual([later.ticket]);
	});
});

describe('the preview cookie', () => {
	it('opens the preview host it was made for, and no other', async () => {
		const cookie = (await previewCookie(previewUrl, SECRET)).split(';')[0];
		expect(cookie).toMatch(/^__Host-sandbox-preview=\d{10}\.[0-9a-f]{32}$/);
		expect(await checkPreviewCookie(withCookie(cookie), previewUrl, SECRET)).toBe('valid');
		const other = new URL('http://3001-express-0123456789abcdef012345-other.localhost:5173/');
		expect(await checkPreviewCookie(new Request(other, { headers: { cookie } }), other, SECRET)).toBeNull();
		expect(await checkPreviewCookie(withCookie(cookie), previewUrl, 'another-secret-entirely')).toBeNull();
		expect(await checkPreviewCookie(withCookie(cookie.replace(/.$/, (c) => (c === '0' ? '1' : '0'))), previewUrl, SECRET)).toBeNull();
		const [, mac] = cookie.split('.');
		expect(await checkPreviewCookie(withCookie(`__Host-sandbox-preview=9999999999.${mac}`), previewUrl, SECRET)).toBeNull();
	});

	it('is partitioned for the cross-site iframe on localhost, same-site Lax under a domain, Secure only where browsers keep it', async () => {
		expect(await previewCookie(previewUrl, SECRET)).toMatch(/; HttpOnly; Secure; SameSite=None; Partitioned$/);
		const underDomain = await previewCookie(new URL('https://3001-a-tok.sandbox.example.com/'), SECRET);
		expect(underDomain).toMatch(/^__Host-sandbox-preview=.*; HttpOnly; Secure; SameSite=Lax$/);
		const plainHttp = await previewCookie(new URL('http://3001-a-tok.app.sandbox.test:8787/'), SECRET);
		expect(plainHttp).toMatch(/^sandbox-preview=.*; HttpOnly; SameSite=Lax$/);
	});

	it("and the app's cookies never reach the sandbox; its own do", () => {
		const stripped = withoutOurCookies(withCookie('__Host-sandbox-preview=1.2; theirs=1; __Host-visitor=a.b; visitor=c; sandbox-preview=x; more=2'));
		expect(stripped.headers.get('cookie')).toBe('theirs=1; more=2');
		expect(withoutOurCookies(withCookie('__Host-visitor=a.b')).headers.get('cookie')).toBeNull();
	});
});

describe('app hosts', () => {
	it('are the loopback names and APP_HOSTS, with their preview hosts; any other host is refused', () => {
		for (const url of ['http://localhost:5173/', 'http://127.0.0.1:8787/', 'http://[::1]:8787/', 'http://3001-a-tok.localhost:5173/']) {
			expect(foreignHostProblem(new URL(url), undefined), url).toBeNull();
		}
		expect(foreignHostProblem(new URL('https://sandbox.example.com/'), 'sandbox.example.com, other.example')).toBeNull();
		expect(foreignHostProblem(new URL('https://3001-a-tok.sandbox.example.com/'), 'sandbox.example.com')).toBeNull();
		expect(foreignHostProblem(new URL('http://rebind.attacker.example:5173/'), undefined)).toContain('APP_HOSTS');
		expect(foreignHostProblem(new URL('http://3001-a-tok.attacker.example/'), 'sandbox.example.com')).toContain('attacker.example');
		expect(foreignHostProblem(new URL('http://evil.localhost.attacker.example/'), undefined)).not.toBeNull();
	});
});
