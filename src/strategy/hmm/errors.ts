// The one exception type the HMM code throws: bad input or a model file that cannot be trusted.
// Callers (CLI, model loader) catch it to print the message, which always names what is wrong.

export class HmmError extends Error {
  override readonly name = 'HmmError';
}
