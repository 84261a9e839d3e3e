// The base of every error this stack throws on purpose. Each carries a stable `code`
// (HMM_<LAYER>_<WHAT>, as Fastify's FST_ERR_* and ccxt's error classes do) that logs, tests and
// API bodies can match on without parsing prose, and, where the failure has one, the HTTP
// status an API answers with. Each layer derives its own base (ConfigError, EngineError,
// HttpError, …) so a catch can take a whole layer. Expected refusals (a rejected order, a
// blocked promotion) are not errors at all: they are typed outcomes.

export class StackError extends Error {
  /** Stable identifier, e.g. HMM_CONFIG_INVALID_KEY. */
  readonly code: string;
  /** The HTTP status an API answers with, where this failure has one. */
  readonly httpStatus: number | null;

  constructor(code: string, message: string, options: { readonly httpStatus?: number; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = options.httpStatus ?? null;
  }
}

/** A value outside what the domain accepts (an id, a symbol, a quantity): the caller's input. */
export class InvalidValueError extends StackError {
  constructor(code: string, message: string) {
    super(code, message, { httpStatus: 400 });
  }
}
