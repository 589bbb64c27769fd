// Test helper for the OpenFlow codec: assert that a call fails with a given OpenFlowError code.
import * as assert from 'uvu/assert';
import { OpenFlowError, type OpenFlowErrorCode } from '../core/openflow/errors';

/** `fn` must throw an OpenFlowError with `code` (and a message matching `message`, if given). */
export function throwsCode(fn: () => unknown, code: OpenFlowErrorCode, message?: RegExp): void {
  try {
    fn();
  } catch (e: unknown) {
    assert.ok(e instanceof OpenFlowError, String(e));
    assert.is(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}
