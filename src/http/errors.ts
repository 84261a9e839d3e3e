// The HTTP layer's errors and the one JSON error shape both APIs answer with. A route throws
// HttpError (status, message, the fields at fault); the server's error handler turns it, and
// any StackError that carries an HTTP status, into `{ error, code, field?, fields? }`. The body
// keeps the shape clients and tests have always read (`error`, `field`, `fields`) and adds the
// stable `code` of the failure.
import { StackError } from '../core/errors.js';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** The schema of every 4xx/5xx JSON body (declared on each route's response, so it is also
 *  what the OpenAPI docs show and what the serializer keeps: a key missing here is dropped). */
export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    code: { type: 'string' },
    field: { type: 'string' },
    fields: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
  required: ['error'],
} as const;

/** Codes by status for an HttpError that names none: what kind of refusal, not which route. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'HMM_HTTP_BAD_REQUEST',
  401: 'HMM_HTTP_UNAUTHORIZED',
  403: 'HMM_HTTP_FORBIDDEN',
  404: 'HMM_HTTP_NOT_FOUND',
  409: 'HMM_HTTP_CONFLICT',
  413: 'HMM_HTTP_BODY_TOO_LARGE',
  415: 'HMM_HTTP_UNSUPPORTED_MEDIA_TYPE',
  422: 'HMM_HTTP_UNPROCESSABLE',
  429: 'HMM_HTTP_TOO_MANY_REQUESTS',
  500: 'HMM_HTTP_INTERNAL',
};

export function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? `HMM_HTTP_${status}`;
}

/** A request the API refuses: its status, a message for the operator and the fields at fault. */
export class HttpError extends StackError {
  /** The status answered (also `httpStatus`; Fastify reads `statusCode`). */
  readonly statusCode: number;
  readonly fields: readonly FieldError[];

  constructor(statusCode: number, message: string, fields: readonly FieldError[] = [], code: string = codeForStatus(statusCode)) {
    super(code, message, { httpStatus: statusCode });
    this.statusCode = statusCode;
    this.fields = fields;
  }
}

/** The JSON body for an error: `field` is the first field at fault, `fields` all of them. */
export function errorBody(message: string, code: string, fields: readonly FieldError[] = []): Record<string, unknown> {
  return fields.length > 0 ? { error: message, code, field: fields[0]!.field, fields } : { error: message, code };
}

/** The body and status for any StackError that has a status (HttpError included), else null.
 *  A coded error may name one field (`field`), as CanaryError does. */
export function answerFor(err: unknown): { status: number; body: Record<string, unknown> } | null {
  if (err instanceof HttpError) return { status: err.statusCode, body: errorBody(err.message, err.code, err.fields) };
  if (err instanceof StackError && err.httpStatus !== null) {
    const field = (err as { field?: unknown }).field;
    return { status: err.httpStatus, body: errorBody(err.message, err.code, typeof field === 'string' && field !== '' ? [{ field, message: err.message }] : []) };
  }
  return null;
}

/**
 * preValidation hook of a route that takes no body (POST /auth/rotate, /reconcile/manual ...):
 * no body, an empty one or `{}` pass; anything else is a 400 naming the body, so a request
 * meant for another route is never taken as this one's action.
 */
export function refuseBody(req: { body?: unknown }, _reply: unknown, done: (err?: Error) => void): void {
  const b = req.body;
  const empty = b === undefined || b === null || b === '' || (typeof b === 'object' && !Array.isArray(b) && Object.keys(b).length === 0);
  done(empty ? undefined : new HttpError(400, 'this route takes no body', [{ field: 'body', message: 'must be empty' }]));
}
