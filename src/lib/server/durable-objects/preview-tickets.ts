/**
 * The one-time tickets a coordinator issues for its preview (see preview-access.ts): a random
 * ID with an expiry, kept in the sandbox's record until it is redeemed or expires. Pure functions
 * over that record's map, so that the coordinator only stores what they return.
 */
import { randomHex } from '../signing';

/** Ticket ID → expiry (epoch ms). */
export type Tickets = Record<string, number>;

/** How long a ticket can be redeemed: a redirect follows at once, a slow network takes a few seconds. */
export const TICKET_TTL_MS = 60_000;
/** At most this many unredeemed tickets are kept (the oldest go first): a record stays small. */
const MAX_TICKETS = 32;

/** A new ticket, and the map that holds it (expired ones and the oldest beyond the cap gone). */
export function issueTicket(tickets: Tickets = {}, now = Date.now()): { ticket: string; tickets: Tickets } {
	const ticket = randomHex(32);
	const kept = Object.entries(tickets)
		.filter(([, expires]) => expires > now)
		.sort(([, a], [, b]) => a - b)
		.slice(-(MAX_TICKETS - 1));
	return { ticket, tickets: Object.fromEntries([...kept, [ticket, now + TICKET_TTL_MS]]) };
}

/** Whether `ticket` is valid now, and the map without it: a ticket works once. */
export function redeemTicket(tickets: Tickets = {}, ticket: string, now = Date.now()): { valid: boolean; tickets: Tickets } {
	const expires = Object.hasOwn(tickets, ticket) ? tickets[ticket] : 0;
	const rest = Object.fromEntries(Object.entries(tickets).filter(([id, at]) => id !== ticket && at > now));
	return { valid: expires > now, tickets: rest };
}
