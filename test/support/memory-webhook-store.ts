/** The webhook tables in memory, with the SQL store's rules (one delivery per endpoint and event, claims fenced by their attempt number). */
import type {
  AttemptFilter,
  ClaimedDelivery,
  NewAttempt,
  RetryRefusal,
  WebhookAttempt,
  DeliveryFilter,
  DeliveryStatus,
  QueuePlan,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookStore,
} from '../../broker-server/store/webhook-store';
import { uidTagOf, webhookId } from '../../broker-server/webhooks/webhook-events';

interface EndpointRow extends WebhookEndpoint {
  secretSealed: string;
}

interface DeliveryRow extends Omit<ClaimedDelivery, 'createdAt'> {
  status: DeliveryStatus;
  nextAttemptAt: number;
  leaseUntil: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

export class MemoryWebhookStore implements WebhookStore {
  readonly endpointRows: EndpointRow[] = [];
  readonly deliveryRows: DeliveryRow[] = [];
  readonly attemptRows: (NewAttempt & { id: number })[] = [];
  /** The newest event id, where a new endpoint starts. */
  lastEventId = 0;

  async addEndpoint(url: string, events: string, secretSealed: string, at: Date): Promise<WebhookEndpoint> {
    const row: EndpointRow = {
      id: this.endpointRows.length + 1,
      url,
      events,
      secretSealed,
      lastEventId: this.lastEventId,
      createdAt: at.toISOString(),
      removedAt: null,
    };
    this.endpointRows.push(row);
    return this.public(row);
  }

  async endpoints(includeRemoved = false): Promise<WebhookEndpoint[]> {
    return this.endpointRows.filter((e) => includeRemoved || !e.removedAt).map((e) => this.public(e));
  }

  async endpointForSending(id: number) {
    const e = this.endpointRows.find((r) => r.id === id && !r.removedAt);
    return e ? { url: e.url, secretSealed: e.secretSealed } : null;
  }

  async removeEndpoint(id: number, at: Date): Promise<boolean> {
    const e = this.endpointRows.find((r) => r.id === id && !r.removedAt);
    if (!e) return false;
    e.removedAt = at.toISOString();
    for (const d of this.deliveryRows)
      if (d.endpointId === id && d.status === 'pending')
        Object.assign(d, { status: 'failed', lastError: 'endpoint removed' });
    return true;
  }

  async queue(endpointId: number, plan: QueuePlan, at: Date): Promise<number | null> {
    const e = this.endpointRows.find((r) => r.id === endpointId && !r.removedAt);
    if (!e) return null;
    const decided = await plan({ events: e.events, lastEventId: e.lastEventId });
    if (!decided || decided.lastEventId <= e.lastEventId) return 0;
    let queued = 0;
    for (const d of decided.deliveries) {
      if (this.deliveryRows.some((r) => r.endpointId === endpointId && r.eventId === d.eventId)) continue;
      this.deliveryRows.push({
        ...d,
        id: this.deliveryRows.length + 1,
        endpointId,
        attempts: 0,
        status: 'pending',
        nextAttemptAt: at.getTime(),
        leaseUntil: null,
        lastStatusCode: null,
        lastError: null,
        createdAt: at.getTime(),
        deliveredAt: null,
      });
      queued++;
    }
    e.lastEventId = decided.lastEventId;
    return queued;
  }

  private due(d: DeliveryRow, now: number): boolean {
    return (d.status === 'pending' && d.nextAttemptAt <= now) || (d.status === 'delivering' && d.leaseUntil! < now);
  }

  async dueEndpoints(now: number): Promise<number[]> {
    const active = new Set(this.endpointRows.filter((e) => !e.removedAt).map((e) => e.id));
    return [
      ...new Set(
        this.deliveryRows.filter((d) => this.due(d, now) && active.has(d.endpointId)).map((d) => d.endpointId),
      ),
    ];
  }

  async claim(endpointId: number, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    const rows = this.deliveryRows
      .filter((d) => d.endpointId === endpointId && this.due(d, now))
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id)
      .slice(0, limit);
    for (const d of rows) Object.assign(d, { status: 'delivering', leaseUntil, attempts: d.attempts + 1 });
    return rows.map((d) => ({
      id: d.id,
      endpointId: d.endpointId,
      eventId: d.eventId,
      jobId: d.jobId,
      printerId: d.printerId,
      type: d.type,
      payload: d.payload,
      attempts: d.attempts,
      createdAt: d.createdAt,
    }));
  }

  private settle(claim: ClaimedDelivery, change: Partial<DeliveryRow>): boolean {
    const d = this.deliveryRows.find((r) => r.id === claim.id);
    if (!d || d.status !== 'delivering' || d.attempts !== claim.attempts) return false;
    Object.assign(d, { leaseUntil: null, ...change });
    return true;
  }

  async delivered(claim: ClaimedDelivery, statusCode: number, at: number) {
    return this.settle(claim, { status: 'delivered', deliveredAt: at, lastStatusCode: statusCode, lastError: null });
  }

  async retryLater(claim: ClaimedDelivery, nextAt: number, statusCode: number | null, error: string) {
    return this.settle(claim, {
      status: 'pending',
      nextAttemptAt: nextAt,
      lastStatusCode: statusCode,
      lastError: error,
    });
  }

  async failed(claim: ClaimedDelivery, statusCode: number | null, error: string) {
    return this.settle(claim, { status: 'failed', lastStatusCode: statusCode, lastError: error });
  }

  async release(claim: ClaimedDelivery, now: number) {
    this.settle(claim, { status: 'pending', nextAttemptAt: now });
  }

  async deliveries(filter: DeliveryFilter): Promise<WebhookDelivery[]> {
    return this.deliveryRows
      .filter(
        (d) =>
          (!filter.status || d.status === filter.status) &&
          (filter.endpointId === undefined || d.endpointId === filter.endpointId) &&
          (filter.beforeId === undefined || d.id < filter.beforeId),
      )
      .sort((a, b) => b.id - a.id)
      .slice(0, filter.limit)
      .map((d) => ({
        id: d.id,
        endpointId: d.endpointId,
        eventId: d.eventId,
        webhookId: webhookId(d.eventId, uidTagOf(d.payload)),
        type: d.type,
        jobId: d.jobId,
        printerId: d.printerId,
        status: d.status,
        attempts: d.attempts,
        nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
        lastStatusCode: d.lastStatusCode,
        lastError: d.lastError,
        createdAt: new Date(d.createdAt).toISOString(),
        deliveredAt: d.deliveredAt === null ? null : new Date(d.deliveredAt).toISOString(),
      }));
  }

  async recordAttempt(a: NewAttempt): Promise<void> {
    this.attemptRows.push({ ...a, id: this.attemptRows.length + 1 });
  }

  async attempts(filter: AttemptFilter): Promise<WebhookAttempt[]> {
    return this.attemptRows
      .filter(
        (a) =>
          (filter.deliveryId === undefined || a.deliveryId === filter.deliveryId) &&
          (filter.endpointId === undefined || a.endpointId === filter.endpointId),
      )
      .sort((a, b) => b.id - a.id)
      .slice(0, filter.limit)
      .map((a) => ({
        id: a.id,
        deliveryId: a.deliveryId,
        endpointId: a.endpointId,
        attempt: a.attempt,
        at: new Date(a.startedAt).toISOString(),
        durationMs: a.durationMs,
        statusCode: a.statusCode,
        error: a.error,
        outcome: a.outcome,
        nextAttemptAt: a.nextAttemptAt === null ? null : new Date(a.nextAttemptAt).toISOString(),
      }));
  }

  async retryNow(deliveryId: number, now: number): Promise<RetryRefusal | null> {
    const d = this.deliveryRows.find((r) => r.id === deliveryId);
    if (!d) return 'missing';
    if (this.endpointRows.find((e) => e.id === d.endpointId)?.removedAt) return 'endpoint-removed';
    if (d.status === 'delivered' || d.status === 'delivering') return d.status;
    if (d.payload === '') return 'payload-dropped';
    Object.assign(d, { status: 'pending', nextAttemptAt: now, leaseUntil: null });
    return null;
  }

  async nextDueAt(): Promise<number | null> {
    const active = new Set(this.endpointRows.filter((e) => !e.removedAt).map((e) => e.id));
    const times = this.deliveryRows
      .filter((d) => active.has(d.endpointId))
      .flatMap((d) => (d.status === 'pending' ? [d.nextAttemptAt] : d.status === 'delivering' ? [d.leaseUntil!] : []));
    return times.length ? Math.min(...times) : null;
  }

  private dropAttempts(deliveryIds: Set<number>): void {
    const keep = this.attemptRows.filter((a) => !deliveryIds.has(a.deliveryId));
    this.attemptRows.splice(0, this.attemptRows.length, ...keep);
  }

  async dropPayloads(before: number): Promise<number> {
    let count = 0;
    const finished = new Set<number>();
    for (const d of this.deliveryRows)
      if ((d.status === 'delivered' || d.status === 'failed') && d.createdAt < before) {
        finished.add(d.id);
        if (d.payload !== '') {
          d.payload = '';
          count++;
        }
      }
    this.dropAttempts(finished);
    return count;
  }

  async pruneDeliveries(before: number): Promise<number> {
    const keep = this.deliveryRows.filter(
      (d) => !((d.status === 'delivered' || d.status === 'failed') && d.createdAt < before),
    );
    const kept = new Set(keep.map((d) => d.id));
    this.dropAttempts(new Set(this.deliveryRows.filter((d) => !kept.has(d.id)).map((d) => d.id)));
    const count = this.deliveryRows.length - keep.length;
    this.deliveryRows.splice(0, this.deliveryRows.length, ...keep);
    return count;
  }

  private public(e: EndpointRow): WebhookEndpoint {
    return {
      id: e.id,
      url: e.url,
      events: e.events,
      lastEventId: e.lastEventId,
      createdAt: e.createdAt,
      removedAt: e.removedAt,
    };
  }
}
