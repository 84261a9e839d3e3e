// Branded identifiers: a model id can never be passed where a client order id is expected.
import { InvalidValueError } from './errors.js';

export type ClientOrderId = string & { readonly __brand: 'ClientOrderId' };
export type ModelId = string & { readonly __brand: 'ModelId' };
export type VenueId = string & { readonly __brand: 'VenueId' };
export type Symbol = string & { readonly __brand: 'Symbol' };

const CLIENT_ORDER_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
const MODEL_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const SYMBOL_RE = /^[A-Z0-9]{2,20}$/;

export function clientOrderId(value: string): ClientOrderId {
  if (!CLIENT_ORDER_ID_RE.test(value)) throw new InvalidValueError('HMM_CORE_INVALID_ID', `invalid client order id: ${JSON.stringify(value)}`);
  return value as ClientOrderId;
}
export function modelId(value: string): ModelId {
  if (!MODEL_ID_RE.test(value)) throw new InvalidValueError('HMM_CORE_INVALID_ID', `invalid model id: ${JSON.stringify(value)}`);
  return value as ModelId;
}
export function venueId(value: string): VenueId {
  if (!MODEL_ID_RE.test(value)) throw new InvalidValueError('HMM_CORE_INVALID_ID', `invalid venue id: ${JSON.stringify(value)}`);
  return value as VenueId;
}
export function symbol(value: string): Symbol {
  if (!SYMBOL_RE.test(value)) throw new InvalidValueError('HMM_CORE_INVALID_ID', `invalid symbol: ${JSON.stringify(value)}`);
  return value as Symbol;
}
