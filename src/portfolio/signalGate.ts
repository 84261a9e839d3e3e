// Back-pressure for signals: at most `max_concurrent_signals` routed at once and at most
// `signal_queue_size` waiting (ops/policies.yaml); beyond that a signal is refused at once
// (HTTP 429) rather than queued without bound.
import { PortfolioError } from './errors.js';

/** The signal gate's refusal: the API answers it 429 (retry later). */
export class SignalQueueFull extends PortfolioError {
  constructor(message: string) {
    super('HMM_PORTFOLIO_SIGNAL_QUEUE_FULL', message, { httpStatus: 429 });
  }
}

export class SignalGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limits: () => { maxConcurrent: number; queueSize: number }) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const { maxConcurrent, queueSize } = this.limits();
    if (this.active >= maxConcurrent) {
      if (this.waiting.length >= queueSize) throw new SignalQueueFull(`signal queue full (${queueSize} waiting)`);
      // The finishing signal hands its slot straight to us: `active` stays counted.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
