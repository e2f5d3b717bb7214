/**
 * Work done once per test run, however many of vitest's files (which run side by side) ask for it:
 * the first to ask does it, holding a lock directory named after it in the run's scratch
 * directory; the others wait for its outcome, and fail as it failed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './host.ts';

export async function oncePerRun(name: string, work: () => void | Promise<void>, { timeout = 120_000 } = {}): Promise<void> {
	const lock = join(process.env.SANDBOX_TEST_DIR!, `once-${name}`);
	const outcome = join(lock, 'outcome');
	try {
		mkdirSync(lock);
	} catch {
		await waitFor(() => existsSync(outcome), { timeout, interval: 200 });
		const failure = readFileSync(outcome, 'utf8');
		if (failure) throw new Error(failure);
		return;
	}
	try {
		await work();
		writeFileSync(outcome, '');
	} catch (failure) {
		writeFileSync(outcome, String(failure));
		throw failure;
	}
}
