// Converting custom values between the API (typed JSON) and form inputs.

export function toInput(def, v) {
  if (v == null) return def.field_type === 'multiselect' ? [] : '';
  switch (def.field_type) {
    case 'multiselect':
      return Array.isArray(v) ? v.map(String) : [String(v)];
    case 'boolean':
      return v === true || v === 'true' ? 'true' : v === false || v === 'false' ? 'false' : '';
    default:
      return String(v);
  }
}

// fromInput returns the value sent to the server; what the user typed is
// sent as is when it does not parse, so the server's message explains it.
export function fromInput(def, v) {
  if (v == null || v === '' || (Array.isArray(v) && v.length === 0)) return null;
  switch (def.field_type) {
    case 'number': {
      const n = typeof v === 'number' ? v : Number(String(v).trim());
      return Number.isFinite(n) ? n : String(v);
    }
    case 'boolean':
      return v === 'true' ? true : v === 'false' ? false : v;
    default:
      return v;
  }
}

export function same(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function showValue(def, v) {
  if (v == null || v === '') return '';
  if (Array.isArray(v)) return v.join(', ');
  if (def?.field_type === 'boolean') return v === true || v === 'true' ? 'Yes' : 'No';
  return String(v);
}
