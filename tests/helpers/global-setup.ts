/**
 * One scratch directory for every runtime the tests start, removed at the end
 * — after checking that no sandbox process outlived the suite.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveProcesses } from './host.ts';

export default function setup() {
	const scratch = mkdtempSync(join(tmpdir(), 'sandbox-tests-'));
	// Sandboxes of a runtime running as root reach their directories in here as an unprivileged uid.
	chmodSync(scratch, 0o711);
	// Set before the test workers start, so they inherit it.
	process.env.SANDBOX_TEST_DIR = scratch;
	return () => {
		const leftovers = liveProcesses().filter((p) => p.cmdline.includes(scratch));
		rmSync(scratch, { recursive: true, force: true });
		if (leftovers.length > 0) {
			throw new Error(`sandbox processes outlived the tests:\n${leftovers.map((p) => `${p.pid} ${p.cmdline}`).join('\n')}`);
		}
	};
}
