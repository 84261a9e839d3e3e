// The venue layer's coded errors: one base (VenueError) so a caller can take every venue
// failure in one catch. A venue's "no" to an order is not among them: that is a rejected
// SubmitResult with a reason code (venue.ts).
import { StackError } from '../core/errors.js';

export class VenueError extends StackError {}

/** A venue answer that does not have the shape the adapter maps (a missing id, a bad number). */
export class MalformedVenueAnswerError extends VenueError {
  constructor(message: string) {
    super('HMM_VENUE_MALFORMED_ANSWER', message);
  }
}
