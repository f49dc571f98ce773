import type Redis from 'ioredis';
import { reconnectDelay } from './redis-connections';

/**
 * How often the subscriber connection is PINGed. A subscriber only listens, so
 * a connection dead without a FIN or RST (a partition, a dropped conntrack
 * entry) would otherwise go unnoticed for many minutes of TCP keepalive, and
 * every change meanwhile would be missed.
 */
export const SUBSCRIBER_PING_MS = 500;

export interface SubscriberHandlers {
  message(message: string): void;
  /** The channel is subscribed (again): changes made while it was not may have been missed. */
  subscribed(): void;
  error(err: Error): void;
}

/**
 * Keeps one connection subscribed to the events channel. It subscribes on
 * every 'ready' (ioredis's own resubscription would not say when it is back),
 * reconnects a connection that stops answering PING, and opens a new
 * connection (on a cluster maybe to another node) when one ends for good.
 */
export class EventSubscriber {
  private connection: Redis;
  private readonly heartbeat: NodeJS.Timeout;
  private pinging = false;
  private closed = false;
  private reopenAttempts = 0;
  private reopenTimer: NodeJS.Timeout | undefined;

  constructor(private readonly open: () => Redis, private readonly channel: string, private readonly handlers: SubscriberHandlers) {
    this.connection = this.attach(open());
    this.heartbeat = setInterval(() => void this.check(), SUBSCRIBER_PING_MS);
    this.heartbeat.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reopenTimer);
    this.connection.disconnect();
  }

  private attach(connection: Redis): Redis {
    connection.on('error', (err: Error) => this.handlers.error(err));
    connection.on('ready', () => void this.subscribe(connection));
    connection.on('message', (_channel: string, message: string) => this.handlers.message(message));
    connection.once('end', () => {
      if (this.closed || connection !== this.connection) return;
      this.reopenTimer = setTimeout(() => {
        if (!this.closed) this.connection = this.attach(this.open());
      }, reconnectDelay(++this.reopenAttempts));
    });
    return connection;
  }

  private async subscribe(connection: Redis): Promise<void> {
    try {
      await connection.subscribe(this.channel);
    } catch {
      // Still connected but not subscribed (e.g. the SUBSCRIBE timed out): reconnect to try again on 'ready'.
      if (connection.status === 'ready') connection.disconnect(true);
      return;
    }
    this.reopenAttempts = 0;
    this.handlers.subscribed();
  }

  /** A PING unanswered within the command timeout: reconnect, so the new subscription announces a reset. */
  private async check(): Promise<void> {
    const connection = this.connection;
    if (this.pinging || connection.status !== 'ready') return;
    this.pinging = true;
    const stream = connection.stream;
    try {
      await connection.ping();
    } catch {
      if (connection.stream === stream && connection.status === 'ready') connection.disconnect(true);
    } finally {
      this.pinging = false;
    }
  }
}
