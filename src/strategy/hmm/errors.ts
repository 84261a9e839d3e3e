// The one exception type the HMM code throws: bad input or a model file that cannot be trusted.
// Callers (CLI, model loader) catch it to print the message, which always names what is wrong.
// A ModelError of the strategy layer, with a stable code (HMM_MODEL_HMM unless a finer one is given).
import { ModelError } from '../errors.js';

export class HmmError extends ModelError {
  constructor(message: string, code = 'HMM_MODEL_HMM') {
    super(code, message);
  }
}
