/**
 * A template's manifest: `sandbox/templates/{id}/template.json`, beside the app's sources. It says
 * everything the app needs to offer, boot and edit the template; nothing about a template lives
 * anywhere else. sandbox/catalog.ts checks every manifest against this schema and gathers them into
 * the catalog the app reads (catalog.ts here).
 */
import * as v from 'valibot';

/** A template's ID is its folder's name: the first part of its sandboxes' IDs, so DNS-safe and short. */
export const TemplateIdSchema = v.pipe(
	v.string(),
	v.regex(/^[a-z][a-z0-9]{1,15}$/, 'A template folder is named with 2–16 lowercase letters and digits, starting with a letter')
);

/** A path relative to the app's directory, without `..` or hidden names. */
const AppPath = v.pipe(
	v.string(),
	v.regex(/^(?!\/)(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/, 'a path inside the app, like src/App.vue')
);

/** An absolute path on the app's server, like `/health`. */
const ServerPath = v.pipe(v.string(), v.regex(/^\/(?!\/)[^\s]*$/, 'a path on the server, starting with one /'), v.maxLength(200));

const Label = (max: number) => v.pipe(v.string(), v.trim(), v.nonEmpty(), v.maxLength(max));

export const ManifestSchema = v.strictObject({
	/** What the start page calls it. */
	label: Label(40),
	description: Label(120),
	/** Where it appears among the start page's choices (lowest first, then by ID); the first is the default. */
	order: v.optional(v.pipe(v.number(), v.integer()), 100),
	/** The port the app serves on inside the sandbox (3000 is the container's control server). */
	port: v.pipe(
		v.number(),
		v.integer(),
		v.minValue(1024),
		v.maxValue(65535),
		v.check((port) => port !== 3000, 'port 3000 belongs to the sandbox itself')
	),
	/** The app's process, started in the app's directory with PORT and SANDBOX_ID (and the API token, if any) set. */
	start: v.strictObject({
		command: Label(300),
		/** The step the visitor sees meanwhile, like "Starting the server". */
		label: Label(60)
	}),
	/** The app is up once `path` answers on `port`. */
	ready: v.strictObject({
		path: ServerPath,
		label: v.optional(Label(60), 'Waiting for the app to answer'),
		timeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(300)), 30)
	}),
	/** What the visitor may edit in the page; without it, no editor. */
	editor: v.optional(
		v.strictObject({
			/** The files the editor lists; the first opens by default. */
			files: v.pipe(v.array(AppPath), v.nonEmpty(), v.maxLength(20)),
			/** Directories any text file inside which may be opened and saved, too. */
			directories: v.optional(v.array(AppPath), []),
			/**
			 * A path on the app's server that answers `{ "clients": n }`: how many browsers will apply a
			 * saved change by themselves (hot reload). Without it, or with none, the page reloads the preview.
			 */
			liveClients: v.optional(ServerPath)
		})
	),
	/**
	 * An API the owner calls from the page's console, through the app's server. The sandbox gets a
	 * bearer token of its own in this environment variable; the console sends it, the preview does not.
	 */
	api: v.optional(
		v.strictObject({
			tokenEnv: v.pipe(v.string(), v.regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'an environment variable name, like API_TOKEN')),
			/** Requests the console offers with one click. */
			examples: v.optional(
				v.pipe(
					v.array(
						v.strictObject({
							method: v.picklist(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
							path: ServerPath,
							body: v.optional(v.pipe(v.string(), v.maxLength(2000)))
						})
					),
					v.maxLength(8)
				),
				[]
			)
		})
	)
});

export type TemplateManifest = v.InferOutput<typeof ManifestSchema>;

/** A template as the app knows it: its folder's name and its manifest. */
export interface Template extends TemplateManifest {
	id: string;
}
