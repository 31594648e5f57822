/** An error that reaches the HTTP caller as `{error: {code, message, details}}` with its status code. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string) {
    super(code, 404, message);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string) {
    super(code, 409, message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(
    message = 'Authentication required: send "Authorization: Bearer <token>" from POST /v1/auth/login.',
  ) {
    super('UNAUTHORIZED', 401, message);
  }
}

/** A dependency (PostgreSQL, Temporal) cannot be reached: the caller should retry later. */
export class UnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds = 5) {
    super('SERVICE_UNAVAILABLE', 503, message, [], { 'retry-after': String(retryAfterSeconds) });
  }
}
