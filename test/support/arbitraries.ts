/**
 * fast-check arbitraries the property tests share.
 *
 * `binaryUnit` is fast-check's own `unit: 'binary'` (any code point but the surrogates, U+0000–U+D7FF and
 * U+E000–U+10FFFF: the same integer drawn, the same character made of it, the same shrinking), without its
 * cost: fast-check builds that unit with `mapToConstant`, whose reverse mapping (a Map of all 1,112,064 code
 * points, built the first time a string of that unit is made) took 1.6–5 s of CPU, more than any test using it.
 * Here the way back from a character to its integer is arithmetic. `fc.string({ unit: binaryUnit })` draws the
 * same strings as `fc.string({ unit: 'binary' })` for the same seed (checked when this was written).
 */
import fc from 'fast-check';

const SURROGATES = 0xe000 - 0xd800;

const fromIndex = (index: number): string => String.fromCodePoint(index < 0xd800 ? index : index + SURROGATES);

const toIndex = (value: unknown): number => {
  if (typeof value !== 'string') throw new Error('not a string');
  const codePoint = value.codePointAt(0);
  if (codePoint === undefined || String.fromCodePoint(codePoint) !== value) throw new Error('not one code point');
  if (codePoint >= 0xd800 && codePoint < 0xe000) throw new Error('a surrogate');
  return codePoint < 0xd800 ? codePoint : codePoint - SURROGATES;
};

export const binaryUnit: fc.Arbitrary<string> = fc.nat({ max: 0x10ffff - SURROGATES }).map(fromIndex, toIndex);
