/**
 * git's input to a pre-receive hook: one `<old> <new> <ref>` line per ref pushed, all-zero ids
 * for a ref created (old) or deleted (new). Only the deploying branch deploys; a delete of it is
 * refused (the node would run code no branch names); any other ref is accepted untouched.
 */
import { DeployError } from './errors.js';

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

const OID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function isZero(oid: string): boolean {
  return /^0+$/.test(oid);
}

export function parseRefUpdates(text: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [old, next, ref, ...rest] = line.trim().split(/\s+/);
    if (!old || !next || !ref || rest.length > 0 || !OID.test(old) || !OID.test(next)) {
      throw new DeployError('refs', `'${line.trim()}' is not a '<old> <new> <ref>' line as git gives a pre-receive hook; 'hydra deploy receive' is run by the hook 'hydra deploy init' writes`);
    }
    updates.push({ old, new: next, ref });
  }
  return updates;
}

export interface RefPlan {
  /** The update of the deploying branch, if pushed (and not a delete). */
  deploy: RefUpdate | null;
  /** Other refs: accepted as they are. */
  others: RefUpdate[];
}

export function planRefs(updates: RefUpdate[], branch: string): RefPlan {
  const ref = `refs/heads/${branch}`;
  const deploy = updates.find((u) => u.ref === ref) ?? null;
  if (deploy && isZero(deploy.new)) {
    throw new DeployError('refs', `deleting ${branch} is refused: it names the code this node runs; push another commit to it instead`);
  }
  return { deploy, others: updates.filter((u) => u.ref !== ref) };
}
