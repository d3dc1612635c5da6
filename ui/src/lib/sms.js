// SMS length, counted the way the server counts it (services/templates
// Segments): the GSM-7 basic set counts one, its extension characters
// (€ [ ] { } ^ ~ \ | and form feed) count two, and any other character
// switches the whole message to UCS-2, counted in UTF-16 code units (an
// emoji is two). One segment holds 160 GSM-7 / 70 UCS-2 units; a message
// longer than that is sent in parts of 153 / 67.

const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const EXTENSION = '\f^{}\\[~]|€';

const basic = new Set(BASIC);
const extension = new Set(EXTENSION);

export const LIMITS = {
  'GSM-7': { single: 160, part: 153 },
  'UCS-2': { single: 70, part: 67 },
};

// segments(text) -> {encoding: 'GSM-7'|'UCS-2', characters, segments}
export function segments(text) {
  const s = text == null ? '' : String(text);
  let septets = 0;
  let gsm = true;
  for (const ch of s) {
    if (basic.has(ch)) septets += 1;
    else if (extension.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  const encoding = gsm ? 'GSM-7' : 'UCS-2';
  const characters = gsm ? septets : s.length; // s.length: UTF-16 code units
  const { single, part } = LIMITS[encoding];
  let n = 0;
  if (characters > 0) n = characters <= single ? 1 : Math.ceil(characters / part);
  return { encoding, characters, segments: n };
}
