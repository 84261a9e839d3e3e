// The strategy layer's coded errors: one base (ModelError, codes HMM_MODEL_*) for a model that
// cannot be built, loaded or fed; HmmError and ModelSpecError derive from it. A model's
// configuration out of range is an InvalidValueError (core/errors.ts) with a HMM_MODEL_ code.
import { StackError } from '../core/errors.js';

export class ModelError extends StackError {}
