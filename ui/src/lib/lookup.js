// The line a provider's settings form shows after a test message: whether
// the saved credentials let the server settle a message whose outcome is
// unknown after a crash (the test's "lookup" and "lookup_detail",
// services/providers/probe.go). null: the server said nothing of it.
export function lookupLine(res) {
  const detail = res && res.lookup_detail ? ` ${res.lookup_detail}` : '';
  switch (res && res.lookup) {
    case 'ok':
      return { kind: 'ok', text: 'Look-ups work: a message whose outcome is unknown after a crash is checked with the provider, not sent twice.' };
    case 'no_read_permission':
      return { kind: 'warn', text: 'These credentials can send but not read: a message whose outcome is unknown after a crash stays unknown for you to check and resend.' + detail };
    case 'unsupported':
      return { kind: 'muted', text: 'This provider cannot look a message up: a message whose outcome is unknown stays unknown for you to check.' };
    case 'failed':
      return { kind: 'warn', text: 'The look-up could not be checked; send another test later.' + detail };
    default:
      return null;
  }
}
