// The one interface every venue adapter implements (ccxt's lesson: quirks stay in the adapter).
// The engine's order router talks only to this.
import type { Fixed } from '../core/decimal.js';
import type { ClientOrderId, Symbol, VenueId } from '../core/ids.js';
import type { Instrument } from '../core/instrument.js';
import type { Fill, OrderSide, OrderType, TimeInForce } from '../core/order.js';

export interface VenueOrderRequest {
  readonly clientOrderId: ClientOrderId;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly qty: Fixed;
  readonly price: Fixed | null;
  readonly timeInForce: TimeInForce;
}

/** Something that happened to an order at the venue after (or as part of) its acceptance. */
export type VenueEvent =
  | { readonly type: 'fill'; readonly fill: Fill }
  | { readonly type: 'canceled'; readonly clientOrderId: ClientOrderId; readonly ts: number; readonly reason: string }
  | { readonly type: 'expired'; readonly clientOrderId: ClientOrderId; readonly ts: number; readonly reason: string };

export type VenueSubmitResult =
  | {
      readonly kind: 'accepted';
      readonly venueOrderId: string;
      readonly ts: number;
      /** Events that happened within the submission (market/IOC fills, an IOC remainder
       *  expiring), in order. Later events arrive through onEvent. */
      readonly events: readonly VenueEvent[];
    }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string; readonly ts: number };

export type VenueCancelResult =
  | { readonly kind: 'canceled'; readonly ts: number }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'already_closed'; readonly message: string };

/** The venue's own view of an order, for reconciliation. */
export interface VenueOrderState {
  readonly clientOrderId: ClientOrderId;
  readonly venueOrderId: string;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly qty: Fixed;
  readonly price: Fixed | null;
  readonly filledQty: Fixed;
  readonly status: 'OPEN' | 'FILLED' | 'CANCELED' | 'EXPIRED';
}

export interface Venue {
  readonly id: VenueId;
  /** Whether a SELL may take the base balance below zero (spot: no). */
  readonly allowsShort: boolean;
  instruments(): ReadonlyMap<Symbol, Instrument>;
  /** Last traded price, rounded to tick; undefined before the first market data. */
  lastPrice(symbol: Symbol): Fixed | undefined;
  submit(req: VenueOrderRequest): Promise<VenueSubmitResult>;
  cancel(clientOrderId: ClientOrderId): Promise<VenueCancelResult>;
  fetchOpenOrders(): Promise<VenueOrderState[]>;
  fetchOrder(clientOrderId: ClientOrderId): Promise<VenueOrderState | null>;
  fetchFills(clientOrderId: ClientOrderId): Promise<Fill[]>;
  /** Registers the single consumer of asynchronous venue events (resting fills, cancels). */
  onEvent(listener: (event: VenueEvent) => void): void;
  close(): Promise<void>;
}
