import { auditId } from '../store/audit-id';
import type { AuditAction, AuditEvent, Store } from '../store/types';

/** Who made a change, and from where: the caller's token and owner, or `local` for a `--config` command. */
export interface AuditOrigin {
  readonly tokenId: string | null;
  readonly user: string;
  readonly requestId: string | null;
  readonly clientAddress: string | null;
}

/** Where an event goes besides the store: the log line (nothing for a `--config` command). */
export type AuditLog = (event: AuditEvent, stored: boolean, err?: unknown) => void;

/**
 * Records one change as an audit event: stored with the retention, and
 * handed to `log`. A store that fails does not undo the change, which is
 * done; the log line still carries the event, marked as not stored.
 */
export async function recordAudit(
  store: Store, retentionMs: number, log: AuditLog, action: AuditAction, target: string, origin: AuditOrigin,
): Promise<AuditEvent> {
  const now = Date.now();
  const event: AuditEvent = {
    id: auditId(now), time: new Date(now).toISOString(), action, target,
    actor: { token_id: origin.tokenId, user: origin.user },
    request_id: origin.requestId, client_address: origin.clientAddress,
  };
  try {
    await store.appendAudit(event, retentionMs);
  } catch (err) {
    log(event, false, err);
    return event;
  }
  log(event, true);
  return event;
}
