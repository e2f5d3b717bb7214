/**
 * N visitors pressing Start (Express) at the same moment, against the app in workerd: each one's
 * time from posting the form to the preview's first byte (without the state poll's lag, see
 * visitor.ts), per N; and, for the largest N, where that time goes — the boot steps the app
 * reports with their durations, what comes before the first of them, and what comes after the
 * last. Every round's sandboxes are stopped, and checked gone, before the next round starts.
 */
import { noSandboxesLeft } from './processes.ts';
import { msRow, tick, type Row } from './stats.ts';
import { withTarget } from './targets.ts';
import { POLL_MS, Visitor, type Boot } from './visitor.ts';

/** Visitors per round; BENCH_VISITORS=5 for a quick look. One alone is the reference. */
export const ROUNDS = (process.env.BENCH_VISITORS ?? '1,5,10,20').split(',').map(Number);

/** Boots N sandboxes at once; resolves with every boot, or rejects once all are stopped. */
async function round(port: number, visitors: number): Promise<Boot[]> {
	const crowd = Array.from({ length: visitors }, () => new Visitor(port));
	try {
		await Promise.all(crowd.map((visitor) => visitor.openHome()));
		const boots = await Promise.allSettled(crowd.map((visitor) => visitor.boot('express')));
		const failures = boots.flatMap((boot) => (boot.status === 'rejected' ? [String(boot.reason)] : []));
		if (failures.length > 0) throw new Error(`${failures.length} of ${visitors} visitors got no preview; the first: ${failures[0]}`);
		return boots.map((boot) => (boot as PromiseFulfilledResult<Boot>).value);
	} finally {
		await Promise.all(crowd.map((visitor) => visitor.stop()));
		for (const visitor of crowd) visitor.close();
		await noSandboxesLeft();
	}
}

/** Form posted → the app's last step done (both on the wall clock: the app's runs on this machine). */
function readyAfter({ state, postedAtEpoch }: Boot): number {
	const last = state.steps.at(-1)!;
	return last.startedAt + last.durationMs! - postedAtEpoch;
}

/** Form posted → the preview's first byte, without the time the poll took to notice readiness. */
const total = (boot: Boot) => readyAfter(boot) + (boot.previewAt - boot.seenReadyAt);

/** The phases of the boots, in order: before the first step, each step, after the last. */
function whereTimeGoes(boots: Boot[]): Row[] {
	const rows: Row[] = [msRow('  form posted → first boot step begins', boots.map((b) => b.state.steps[0].startedAt - b.postedAtEpoch))];
	for (const { label } of boots[0].state.steps) {
		rows.push(msRow(`  step: ${label}`, boots.map((b) => b.state.steps.find((step) => step.label === label)!.durationMs!)));
	}
	rows.push(msRow('  ready → preview first byte', boots.map((b) => b.previewAt - b.seenReadyAt)));
	rows.push(msRow(`  (not counted: ready → the state poll every ${POLL_MS} ms notices)`, boots.map((b) => b.seenReadyAt - b.postedAt - readyAfter(b))));
	return rows;
}

export async function benchVisitors(): Promise<Row[]> {
	return withTarget('worker', async (port) => {
		// Unmeasured: workerd loads the app and the Durable Object class on first use.
		await round(port, 1);
		const rows: Row[] = [];
		let largest: Boot[] = [];
		for (const visitors of ROUNDS) {
			const boots = await round(port, visitors);
			tick();
			rows.push(msRow(`${visitors} at once: form posted → preview first byte`, boots.map(total)));
			if (boots.length >= largest.length) largest = boots;
		}
		rows.push([`where the time goes with ${largest.length} at once, phase by phase:`], ...whereTimeGoes(largest));
		return rows;
	});
}
