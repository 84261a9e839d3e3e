// The model lifecycle's coded errors (registry, canary, promotion): LifecycleError is its
// base; each failure has a stable HMM_LIFECYCLE_* code and, where an API answers it, a status.
import { StackError } from '../core/errors.js';

export class LifecycleError extends StackError {}
