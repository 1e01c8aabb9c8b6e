/**
 * @module engine/engine — what every engine function is handed: the limits, the clock, the room registry
 * (the only way to storage), the metrics, and shutdown. No HTTP here.
 */
import { ApiError } from "../errors.ts";
import { HEALTH_TIMEOUT_MS, type Limits } from "../config.ts";
import type { Clock } from "../timers.ts";
import { EngineMetrics } from "./metrics.ts";
import { ListenerQuota } from "./quotas.ts";
import { armProposalExpiry } from "./proposal_expiry.ts";
import { type RegistryOptions, RoomRegistry } from "./registry.ts";
import { trimIfDue } from "./retention.ts";
import { type DeliveryOptions, WebhookDeliverer } from "./webhook_delivery.ts";

export type EngineOptions = RegistryOptions & { limits: Limits; delivery?: DeliveryOptions };

export class Engine {
  readonly limits: Limits;
  readonly clock: Clock;
  readonly rooms: RoomRegistry;
  /** webhook deliveries: started by `startDelivery` (the server), idle otherwise */
  readonly webhooks: WebhookDeliverer;
  readonly metrics = new EngineMetrics();
  /** open waits and feeds, per room and in all (SYNC_ROOM_MAX_WAITERS, SYNC_MAX_WAITERS) */
  readonly listeners = new ListenerQuota();
  closing = false;
  #shutdownHooks = new Set<() => void>();

  constructor(o: EngineOptions) {
    this.limits = o.limits;
    this.clock = o.clock;
    // a room's proposals expire on time from the moment it is in memory, also after a restart
    this.rooms = new RoomRegistry({
      ...o,
      adopted: (room) => armProposalExpiry(this, room),
      afterCommit: (room) => trimIfDue(this, room),
    });
    this.webhooks = new WebhookDeliverer(this, o.delivery);
    this.rooms.onOutbox = (room, added, rearmed) => this.webhooks.poke(room, added, rearmed);
  }

  /** Starts the webhook delivery loop (the outbox rows of every room, then each new commit's). */
  startDelivery(): void {
    this.webhooks.start();
  }

  now(): number {
    return this.clock.now();
  }

  /** `/healthz`: resolves while storage answers; `503 shutting_down` / `503 db_unavailable` otherwise. */
  async health(): Promise<void> {
    if (this.closing) throw new ApiError("shutting_down", "the server is shutting down");
    try {
      await this.rooms.ping(HEALTH_TIMEOUT_MS);
    } catch (e) {
      throw new ApiError("db_unavailable", `the database does not answer: ${(e as Error).message}`);
    }
  }

  /** Refuses new blocking requests once shutdown began. */
  assertOpen(): void {
    if (this.closing) throw new ApiError("shutting_down", "the server is shutting down");
  }

  /** Long-lived streams register here so a shutdown can end them. */
  onShutdown(fn: () => void): () => void {
    if (this.closing) {
      queueMicrotask(fn); // registered after the hooks ran: end it at once
      return () => {};
    }
    this.#shutdownHooks.add(fn);
    return () => this.#shutdownHooks.delete(fn);
  }

  /** Ends waiters and feeds (503), stops deliveries and watching peers, and writes everything outstanding. */
  async close(): Promise<void> {
    this.closing = true;
    for (const fn of this.#shutdownHooks) fn();
    this.#shutdownHooks.clear();
    await this.webhooks.close();
    await this.rooms.close();
  }
}
