import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/api/client';
import { errorText, formErrors } from '../src/model/errors';

describe('API errors mapped to form fields', () => {
  it("a 400's messages go next to the fields they name; others above the form", () => {
    const err = new ApiError(400, 'Parameter verification failed.', { bridge: 'property is missing and it is not optional', 'lock-token': 'invalid format' });
    const mapped = formErrors(err, ['zone', 'type', 'bridge']);
    expect(mapped.fields).toEqual({ bridge: 'property is missing and it is not optional' });
    expect(mapped.general).toEqual(['lock-token: invalid format']);
  });

  it('a stale digest says so instead of a bare conflict', () => {
    const err = new ApiError(409, 'detected modified configuration - file changed by other user? Try again.');
    const mapped = formErrors(err, ['tag']);
    expect(mapped.fields).toEqual({});
    expect(mapped.general[0]).toMatch(/^Someone changed this object since you opened it; nothing was overwritten/);
  });

  it('a lock refusal names the lock', () => {
    const err = new ApiError(423, "SDN configuration locked by root@pam since 2026-12-01 10:00:00; use its lock-token");
    expect(formErrors(err, []).general[0]).toBe('Refused by the SDN lock: SDN configuration locked by root@pam since 2026-12-01 10:00:00; use its lock-token');
    expect(errorText(err)).toContain('root@pam');
  });

  it('non-API errors keep their message', () => {
    expect(formErrors(new Error('boom'), []).general).toEqual(['boom']);
  });
});
