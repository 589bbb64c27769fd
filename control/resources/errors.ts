// The resource API's one error type: an HTTP status, a stable code scripts can match, a message, and the
// field of the request that caused it when there is one (`{"code","message","field"?}` on the wire).
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 409 | 412 | 413 | 503,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { code: string; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export const badField = (field: string, message: string, code = 'BAD_FIELD'): ApiError =>
  new ApiError(400, code, `${field}: ${message}`, field);

export const notFound = (kind: string, id: string): ApiError =>
  new ApiError(404, 'NOT_FOUND', `no ${kind} ${JSON.stringify(id)}`);

export const conflict = (code: string, message: string, field?: string): ApiError =>
  new ApiError(409, code, message, field);
