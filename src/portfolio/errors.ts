// The portfolio plane's coded errors (sizing, routing, allocation): PortfolioError is its base;
// each failure has a stable HMM_PORTFOLIO_* code and, where an API answers it, a status.
import { StackError } from '../core/errors.js';

export class PortfolioError extends StackError {}
