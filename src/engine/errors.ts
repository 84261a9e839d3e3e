// The engine layer's coded errors: one base (EngineError, codes HMM_ENGINE_*) so a caller can
// take the whole layer in one catch. The ledger's and the HTTP handle's errors derive from it
// beside their code (LedgerOpenError, EngineUnreachableError, …). An order the rails or the
// venue refuse is not an error at all: that is a SubmitOutcome (views.ts).
import { StackError } from '../core/errors.js';

export class EngineError extends StackError {}

/** The order state machine refused a transition the order path relies on: a bug, not input. */
export class OrderStateError extends EngineError {
  constructor(readonly from: string, readonly to: string) {
    super('HMM_ENGINE_ILLEGAL_TRANSITION', `OMS: ${from} → ${to}`);
  }
}
