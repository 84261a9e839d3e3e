// Orders as explicit types, and the order state machine as data: a transition not in
// the table cannot happen (NautilusTrader's model).
import type { Fixed } from './decimal.js';
import type { ClientOrderId, ModelId, Symbol, VenueId } from './ids.js';

export type OrderSide = 'BUY' | 'SELL';
export type OrderType = 'MARKET' | 'LIMIT';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';

export type OrderStatus = 'NEW' | 'ACCEPTED' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'REJECTED' | 'EXPIRED';

export const TERMINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED']);

/** What may follow each status. PARTIALLY_FILLED → PARTIALLY_FILLED is a further partial fill. */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  NEW: ['ACCEPTED', 'REJECTED'],
  ACCEPTED: ['PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'EXPIRED'],
  PARTIALLY_FILLED: ['PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'EXPIRED'],
  FILLED: [],
  CANCELED: [],
  REJECTED: [],
  EXPIRED: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return ORDER_TRANSITIONS[from].includes(to);
}

export interface OrderIntent {
  readonly clientOrderId: ClientOrderId;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly qty: Fixed;
  /** Limit price; null for market orders. */
  readonly price: Fixed | null;
  readonly timeInForce: TimeInForce;
  readonly model: ModelId | null;
}

export interface Order extends OrderIntent {
  readonly venue: VenueId;
  readonly status: OrderStatus;
  readonly filledQty: Fixed;
  /** Σ qty × price of fills (quote currency), for the average fill price. */
  readonly filledNotional: Fixed;
  readonly fees: Fixed;
  readonly venueOrderId: string | null;
  readonly rejectReason: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type Liquidity = 'MAKER' | 'TAKER';

export interface Fill {
  /** Venue trade id: fills are de-duplicated on it. */
  readonly tradeId: string;
  readonly clientOrderId: ClientOrderId;
  readonly venue: VenueId;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly qty: Fixed;
  readonly price: Fixed;
  /** Fee in quote currency. */
  readonly fee: Fixed;
  readonly liquidity: Liquidity;
  readonly model: ModelId | null;
  readonly ts: number;
}

export type OrderTransitionError = { code: 'ILLEGAL_TRANSITION'; from: OrderStatus; to: OrderStatus };

/** Applies a status change; fills change quantities only through applyFillToOrder. */
export function transition(order: Order, to: OrderStatus, at: number, extra: Partial<Pick<Order, 'venueOrderId' | 'rejectReason'>> = {}): Order | OrderTransitionError {
  if (!canTransition(order.status, to)) return { code: 'ILLEGAL_TRANSITION', from: order.status, to };
  return { ...order, ...extra, status: to, updatedAt: at };
}

export function applyFillToOrder(order: Order, fill: Fill): Order | OrderTransitionError {
  const filledQty = (order.filledQty + fill.qty) as Fixed;
  if (filledQty > order.qty) return { code: 'ILLEGAL_TRANSITION', from: order.status, to: 'FILLED' };
  const to: OrderStatus = filledQty === order.qty ? 'FILLED' : 'PARTIALLY_FILLED';
  if (!canTransition(order.status, to)) return { code: 'ILLEGAL_TRANSITION', from: order.status, to };
  return {
    ...order,
    status: to,
    filledQty,
    filledNotional: (order.filledNotional + (fill.qty * fill.price) / 100_000_000n) as Fixed,
    fees: (order.fees + fill.fee) as Fixed,
    updatedAt: fill.ts,
  };
}

export function isTransitionError(x: Order | OrderTransitionError): x is OrderTransitionError {
  return (x as OrderTransitionError).code === 'ILLEGAL_TRANSITION';
}
