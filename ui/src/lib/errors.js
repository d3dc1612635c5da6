// Turning server errors into text a user can act on. pi-crm errors carry a
// stable code in data.code (services/apperr); PocketBase's own validation
// errors carry {field: {code, message}} in data.

export function errorCode(err) {
  return err?.response?.data?.code || '';
}

export function errorMessage(err, fallback = 'Something went wrong. Try again.') {
  if (!err) return '';
  if (err.isAbort) return '';
  if (err.status === 0) return 'Cannot reach the server. Check the connection and try again.';
  if (err.status === 429) return 'Too many attempts from this address. Wait a minute, then try again.';
  const msg = err.response?.message || err.message;
  return msg || fallback;
}

// fieldErrors maps an error to {field: message}: PocketBase validation
// errors and pi-crm field errors ({field: {code, message}}) by field name,
// and custom field errors (data.fields: {name: message}) under prefix + name.
export function fieldErrors(err, customPrefix = 'custom.') {
  const out = {};
  const data = err?.response?.data;
  if (!data || typeof data !== 'object') return out;
  for (const [key, value] of Object.entries(data)) {
    if (key === 'code') continue;
    if (key === 'fields' && value && typeof value === 'object') {
      for (const [name, msg] of Object.entries(value)) {
        out[customPrefix + name] = typeof msg === 'string' ? msg : msg?.message || String(msg);
      }
      continue;
    }
    if (value && typeof value === 'object' && typeof value.message === 'string') out[key] = value.message;
  }
  return out;
}

// notAvailable: the route does not exist on this server (yet).
export function notAvailable(err) {
  return err?.status === 404 && !errorCode(err);
}
