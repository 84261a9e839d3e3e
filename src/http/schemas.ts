// JSON-schema pieces the route plugins share (Fastify serialises each response by its schema).

/** An object passed through as it is: its fields are documented where it is built, not here. */
export const anyObject = { type: 'object', additionalProperties: true } as const;
