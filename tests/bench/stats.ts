/** Percentiles and the bench's output: fixed-width tables on stdout, progress on stderr. */

const LABEL_WIDTH = 64;
const CELL_WIDTH = 8;

/** The nearest-rank percentile: a value that was measured, never an interpolation. */
export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** A row of a table: a label and its cells; a row without cells is a note, printed as it is. */
export type Row = [label: string, ...cells: string[]];

/** p50 and p95 of durations in milliseconds. */
export function msRow(label: string, values: number[]): Row {
	return [label, percentile(values, 50).toFixed(0), percentile(values, 95).toFixed(0)];
}

/** p50 and p95 of `numerator` over those of `denominator`. */
export function ratioRow(label: string, numerator: number[], denominator: number[]): Row {
	const ratio = (p: number) => `${(percentile(numerator, p) / percentile(denominator, p)).toFixed(2)}x`;
	return [label, ratio(50), ratio(95)];
}

export function printTable(title: string, header: Row, rows: Row[]) {
	const line = ([label, ...cells]: Row) =>
		cells.length === 0 ? label : `${label.padEnd(LABEL_WIDTH)}${cells.map((cell) => cell.padStart(CELL_WIDTH)).join('')}`;
	console.log(`\n${title}\n`);
	for (const row of [header, ...rows]) console.log(line(row));
}

/** Progress on stderr, so that stdout holds only the tables. */
export function tick() {
	process.stderr.write('.');
}
