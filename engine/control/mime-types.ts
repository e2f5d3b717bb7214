/**
 * How `readFile` without an encoding decides between text and base64, as the real server does:
 * the file's MIME type comes from its extension (the real server asks Bun, whose table this
 * follows for the extensions met in practice); an unknown extension is sniffed with
 * `file --mime-type` (files.ts). Text types come back as UTF-8, everything else as base64.
 */

export const UNKNOWN_TYPE = 'application/octet-stream';

const TYPES_BY_EXTENSION: Record<string, string> = {
	// Code and markup. Bun reports every JavaScript and TypeScript flavour as JavaScript.
	js: 'text/javascript',
	mjs: 'text/javascript',
	cjs: 'text/javascript',
	jsx: 'text/javascript',
	ts: 'text/javascript',
	mts: 'text/javascript',
	cts: 'text/javascript',
	tsx: 'text/javascript',
	json: 'application/json',
	map: 'application/json',
	json5: 'application/json5',
	jsonld: 'application/ld+json',
	webmanifest: 'application/manifest+json',
	geojson: 'application/geo+json',
	html: 'text/html',
	htm: 'text/html',
	shtml: 'text/html',
	xhtml: 'application/xhtml+xml',
	css: 'text/css',
	less: 'text/less',
	scss: 'text/x-scss',
	sass: 'text/x-sass',
	styl: 'text/stylus',
	xml: 'application/xml',
	xsd: 'application/xml',
	xsl: 'application/xslt+xml',
	svg: 'image/svg+xml',
	md: 'text/markdown',
	markdown: 'text/markdown',
	mdx: 'text/mdx',
	txt: 'text/plain',
	text: 'text/plain',
	log: 'text/plain',
	conf: 'text/plain',
	ini: 'text/plain',
	list: 'text/plain',
	csv: 'text/csv',
	tsv: 'text/tab-separated-values',
	yaml: 'text/yaml',
	yml: 'text/yaml',
	toml: 'application/toml',
	sh: 'application/x-sh',
	csh: 'application/x-csh',
	php: 'application/x-httpd-php',
	pl: 'application/x-perl',
	sql: 'application/x-sql',
	c: 'text/x-c',
	h: 'text/x-c',
	cc: 'text/x-c',
	cpp: 'text/x-c',
	cxx: 'text/x-c',
	java: 'text/x-java-source',
	lua: 'text/x-lua',
	coffee: 'text/coffeescript',
	hbs: 'text/x-handlebars-template',
	vtt: 'text/vtt',
	ics: 'text/calendar',
	rtf: 'text/rtf',
	tex: 'application/x-tex',
	// Binary formats.
	wasm: 'application/wasm',
	png: 'image/png',
	jpg: 'image/jpeg',
	jpeg: 'image/jpeg',
	gif: 'image/gif',
	webp: 'image/webp',
	avif: 'image/avif',
	bmp: 'image/x-ms-bmp',
	ico: 'image/x-icon',
	tif: 'image/tiff',
	tiff: 'image/tiff',
	woff: 'font/woff',
	woff2: 'font/woff2',
	ttf: 'font/ttf',
	otf: 'font/otf',
	eot: 'application/vnd.ms-fontobject',
	mp3: 'audio/mpeg',
	wav: 'audio/x-wav',
	ogg: 'audio/ogg',
	flac: 'audio/x-flac',
	mp4: 'video/mp4',
	webm: 'video/webm',
	mov: 'video/quicktime',
	pdf: 'application/pdf',
	zip: 'application/zip',
	gz: 'application/gzip',
	tar: 'application/x-tar',
	bz2: 'application/x-bzip2',
	xz: 'application/x-xz',
	'7z': 'application/x-7z-compressed',
	jar: 'application/java-archive',
	exe: 'application/x-msdownload',
	bin: UNKNOWN_TYPE,
	so: UNKNOWN_TYPE
};

/** Application types that are text, besides every `text/*` and any `+json` or `+xml` subtype. */
const TEXT_APPLICATION_TYPES = new Set([
	'application/ecmascript',
	'application/javascript',
	'application/json',
	'application/json-seq',
	'application/rtf',
	'application/sql',
	'application/toml',
	'application/typescript',
	'application/x-empty',
	'application/x-httpd-php',
	'application/x-javascript',
	'application/x-sh',
	'application/x-shellscript',
	'application/x-typescript',
	'application/x-yaml',
	'application/xml',
	'application/xml-dtd',
	'application/xml-external-parsed-entity',
	'application/yaml',
	'inode/x-empty'
]);

/** The type a file's name suggests; UNKNOWN_TYPE when its extension says nothing (then it is sniffed). */
export function typeByExtension(path: string): string {
	const name = path.slice(path.lastIndexOf('/') + 1);
	const dot = name.lastIndexOf('.');
	if (dot <= 0) return UNKNOWN_TYPE;
	return TYPES_BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? UNKNOWN_TYPE;
}

export function isBinaryType(mimeType: string): boolean {
	const type = mimeType.split(';')[0].trim().toLowerCase();
	const subtype = type.split('/')[1] ?? '';
	const isText = type.startsWith('text/') || TEXT_APPLICATION_TYPES.has(type) || subtype.endsWith('+json') || subtype.endsWith('+xml');
	return !isText;
}
