/**
 * The naming rules every layer checks against, each in one place: child ids (the supervisor's
 * children, which are also a service instance's channel consumer name), node ids, scheduled
 * service names, and versions (semver, by the `semver` package rather than a regex of our own).
 * Each rule comes with the words a refusal uses, so every error describes it the same way.
 */
// Only the parser: the whole package adds tens of ms to every service process's start.
import parseSemver from 'semver/functions/parse.js';

/**
 * Child ids: 100 characters is the supervisor's limit, and every child passes the supervisor,
 * so a longer id accepted elsewhere (the service runtime took 200) could never run. It fits
 * the longest id Hydra makes itself: a 64-character service name, '#', the instance number,
 * '@' and 12 hex digits of the release (scheduler/reconcile/servicesHost.ts childIdOf).
 */
export const CHILD_ID_MAX = 100;
const CHILD_ID = new RegExp(`^[A-Za-z0-9_.@#:-]{1,${CHILD_ID_MAX}}$`);
export const CHILD_ID_RULE = `1-${CHILD_ID_MAX} letters, digits or _ . @ # : -`;

export function isChildId(value: unknown): value is string {
  return typeof value === 'string' && CHILD_ID.test(value);
}

/**
 * Node ids: a DNS label (1-63 of [a-z0-9-], starting with a letter or digit). The default is
 * the host's name made to fit (node/config.ts), and the id ends up in host names and PostgreSQL
 * application names; the registry and the node's configuration check the same rule.
 */
const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const NODE_ID_RULE = '1-63 characters of [a-z0-9-], starting with a letter or digit';

export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID.test(value);
}

/** Scheduled service names (specs, cron targets). */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const SERVICE_NAME_RULE = "1-64 letters, digits and '_ . : -', starting with a letter or digit";

export function isServiceName(value: unknown): value is string {
  return typeof value === 'string' && SERVICE_NAME.test(value);
}

/**
 * A version as semver.org defines it: MAJOR.MINOR.PATCH, optional -prerelease and +build.
 * `01.2.3` is not one (no leading zeros), nor is `v1.2.3` or one padded with spaces, which the
 * package's parser would otherwise forgive.
 */
export function isSemver(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9]/.test(value) && value === value.trim() && parseSemver(value) !== null;
}
