/** A length of time as a person says it: "45 seconds", "12 minutes", "3 hours", "2 days". */
export function spokenDuration(ms: number): string {
	const seconds = Math.round(ms / 1000);
	if (seconds < 120) return `${seconds} seconds`;
	if (seconds < 120 * 60) return `${Math.round(seconds / 60)} minutes`;
	if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} hours`;
	return `${Math.round(seconds / 86_400)} days`;
}

/** How long ago something happened, as a person says it: "a moment ago", "12 minutes ago". */
export function spokenAgo(ms: number): string {
	return ms < 10_000 ? 'a moment ago' : `${spokenDuration(ms)} ago`;
}
