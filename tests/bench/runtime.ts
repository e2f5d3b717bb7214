/**
 * npm run bench — prints p50/p95 (milliseconds unless said otherwise), section by section:
 *
 *   exec        Cold start: `node server.js` spawned on the host versus in a new sandbox of the local
 *               runtime (the one `vite dev` uses), to the first byte through its preview route, and
 *               their ratio; then a new container → its first exec('true') through the SDK in
 *               workerd (what `npm run preview` uses), beside public figures for scale.
 *   app         Through the app in Chromium, under `vite dev` and in workerd: click Start → the
 *               preview's first byte for each template, the requests the page made meanwhile, and
 *               for Vue + Vite, save → the edit visible in the iframe.
 *   throughput  Requests per second of GET / from Express: on the host, through the engine's port
 *               forward alone, and through each target's whole preview path, with the ratios.
 *   visitors    N visitors starting Express at the same moment in workerd: form posted → preview
 *               first byte for each N, and where the time goes for the largest N.
 *
 *   BENCH_RUNS=20              runs per measurement of exec and app (default 12)
 *   BENCH_ONLY=exec,visitors   these sections only (default: all, in the order above)
 *   BENCH_VISITORS=1,5         the visitors' rounds (default 1,5,10,20)
 *
 * app, throughput and visitors run the app on ports 5173 and 8787, as the e2e suite does: not while
 * that runs.
 */
import { benchApp } from './app.ts';
import { benchColdStart } from './cold-start.ts';
import { benchSdkExec } from './sdk-exec.ts';
import { printTable, type Row } from './stats.ts';
import { CONCURRENCY, MEASURE_MS, WARMUP_MS, benchThroughput } from './throughput.ts';
import { benchVisitors } from './visitors.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const MS: Row = ['(milliseconds)', 'p50', 'p95'];

const SECTIONS: Record<string, () => Promise<void>> = {
	async exec() {
		const rows = [...(await benchColdStart(RUNS)), ...(await benchSdkExec(RUNS))];
		printTable(`Cold start — ${RUNS} runs each, Node ${process.versions.node}`, MS, rows);
	},
	async app() {
		printTable(`Through the app in Chromium — ${RUNS} runs each`, MS, await benchApp(RUNS));
	},
	async throughput() {
		const load = `${CONCURRENCY} keep-alive connections, ${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up`;
		printTable(`Preview throughput, Express GET / — ${load}`, ['(GET / answered 200)', 'req/s', 'vs host'], await benchThroughput());
	},
	async visitors() {
		printTable('Visitors starting Express at the same moment, app in workerd (no JavaScript)', MS, await benchVisitors());
	}
};

const chosen = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()) ?? Object.keys(SECTIONS);
const unknown = chosen.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) throw new Error(`BENCH_ONLY: no section ${unknown.join(', ')} (there are ${Object.keys(SECTIONS).join(', ')})`);

for (const name of chosen) {
	await SECTIONS[name]();
	process.stderr.write('\n');
}
