// The operator surface's coded errors: OpsError is the base a catch can take the whole plane
// by; each failure (BackupError, RotateUnavailable, StackRunningError, …, each beside what
// throws it) has a stable HMM_OPS_* code and, where an API answers it, a status.
import { StackError } from '../core/errors.js';

export class OpsError extends StackError {}
