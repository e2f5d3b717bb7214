// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
	namespace App {
		interface Error {
			message: string;
		}
		interface Locals {
			/** The visitor's ID from their signed cookie, or null (none, forged, or more than one). */
			visitor: string | null;
		}
		interface Platform {
			env: Record<string, unknown>;
			/** workerd's execution context: `waitUntil` keeps the worker alive after the response. */
			ctx: { waitUntil(promise: Promise<unknown>): void };
		}
	}
}

export {};
