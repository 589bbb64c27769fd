// The one error class of the codec. Callers branch on `code` (a stable string), never on the
// message text, and the code survives crossing a worker_threads boundary where the class does not.

export type OpenFlowErrorCode =
  | 'OF_FRAME_BAD_LENGTH'
  | 'OF_MESSAGE_TOO_LONG'
  | 'OF_TRUNCATED'
  | 'OF_BAD_MESSAGE'
  | 'OF_UNKNOWN_FIELD'
  | 'OF_BAD_VALUE'
  | 'OF_MATCH_DUPLICATE_FIELD'
  | 'OF_MATCH_PREREQ'
  | 'OF_MATCH_VALUE_OUTSIDE_MASK'
  | 'OF_MATCH_MASK_NOT_ALLOWED'
  | 'OF_FIELD_NOT_WRITABLE'
  | 'OF_ACTION_PREREQ'
  | 'OF_BAD_ACTION'
  | 'OF_UNSUPPORTED_ACTION'
  | 'OF_UNSUPPORTED_INSTRUCTION'
  | 'OF_UNSUPPORTED_MATCH';

export class OpenFlowError extends Error {
  readonly code: OpenFlowErrorCode;
  constructor(code: OpenFlowErrorCode, message: string) {
    super(message);
    this.name = 'OpenFlowError';
    this.code = code;
  }
}
